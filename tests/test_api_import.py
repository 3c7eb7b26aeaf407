"""Bulk import through the REST API (api/views_imports.py): people matched to the roll by 身份证号
and meetings held matched by their 外部编号, through the file imports' engines — all or nothing
with each row's errors, a 409 with each row's differences, the same rows again changing nothing,
and the token's scope. The organisation is tests/test_permissions.py's (C → B1, B2)."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from api import tokens
from qms import ledger
from qms.models import LedgerEntry, Member, MemberCategory
from tests import factories
from tests.test_api import _base, bearer, body, org, personal  # noqa: F401  (the once-built organisation)
from workflows import history_import
from workflows.models import Occurrence, State

pytestmark = pytest.mark.django_db
MEMBERS, MEETINGS = "/api/v1/imports/members/", "/api/v1/imports/meetings/"


def post(client, url, data, secret):
    return client.post(url, json.dumps(data), content_type="application/json", **bearer(secret))


def person(n: int, **kw) -> dict:
    row = {"name": f"导入{'甲乙丙丁戊己庚辛'[n % 8]}{n}", "gender": "男", "id_number": factories.id_number(n, dt.date(1990, 3, 8)),
           "category": "正式党员", "joined_on": "2015-07-01", "full_on": "2016-07-01", "unit": "B1"}
    return {**row, **kw}


def stored():
    return Member.objects.count(), Occurrence.objects.count(), ledger.head()


# ------------------------------------------------------------------------------ people


def test_people_are_enrolled_all_at_once_and_sending_them_again_changes_nothing(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])
    rows = [person(1, phone="13800000001", birth_date="1990年3月8日"), person(2, gender="F", category="probationary",
                                                                         full_on=""), person(3)]
    r = post(client, MEMBERS, {"members": rows}, secret)
    assert r.status_code == 200, r.content
    out = body(r)
    assert (out["created"], out["unchanged"], out["dry_run"]) == (3, 0, False)
    assert [x["result"] for x in out["rows"]] == ["created"] * 3
    made = {m.pk: m for m in Member.objects.filter(pk__in=[x["id"] for x in out["rows"]])}
    assert {m.name for m in made.values()} == {r["name"] for r in rows}
    second = made[out["rows"][1]["id"]]
    assert (second.gender, second.category, second.full_on) == ("F", MemberCategory.PROBATIONARY, None)  # codes as words
    assert second.current_membership().unit == org["b1"]
    entries = ledger.head()[0]
    assert all(m.memberships.get().unit == org["b1"] for m in made.values())

    before = stored()
    again = post(client, MEMBERS, {"members": rows}, secret)
    assert again.status_code == 200
    assert (body(again)["created"], body(again)["unchanged"]) == (0, 3)
    assert [x["id"] for x in body(again)["rows"]] == [x["id"] for x in out["rows"]]
    assert stored() == before and ledger.head()[0] == entries


def test_any_row_in_error_saves_nothing_and_every_error_names_its_row(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])
    rows = [person(10), person(11, id_number="110101199003080000"), person(12, unit="NOPE"),
            person(13, joined_on="明年"), person(14, gender="未知")]
    before = stored()
    r = post(client, MEMBERS, {"members": rows}, secret)
    assert r.status_code == 400, r.content
    out = body(r)
    assert out["code"] == "invalid" and "未保存任何数据" in out["message"]
    got = {(e["row"], e["field"], e["column"]) for e in out["errors"]["rows"]}
    assert {(2, "id_number", "身份证号"), (3, "unit", "所在党组织编码"), (4, "joined_on", "入党日期"),
            (5, "gender", "性别")} <= got
    assert not any(e["row"] == 1 for e in out["errors"]["rows"])
    assert all(e["message"] for e in out["errors"]["rows"])
    assert stored() == before


def test_a_row_that_differs_from_the_roll_is_a_409_with_its_differences(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])
    on_roll = Member.objects.get(user=org["member"])
    sent = person(20, name=on_roll.name, id_number=on_roll.id_number, gender=on_roll.get_gender_display(),
                  joined_on=on_roll.joined_on.isoformat(), full_on=on_roll.full_on.isoformat(),
                  category=on_roll.get_category_display(), ethnicity="满族")
    before = stored()
    r = post(client, MEMBERS, {"members": [person(21), sent]}, secret)
    assert r.status_code == 409, r.content
    out = body(r)
    assert out["code"] == "differs_from_roll" and "更正" in out["message"]
    [row] = out["errors"]["rows"]
    assert (row["row"], row["id"], row["name"]) == (2, on_roll.pk, on_roll.name)
    assert row["differences"] == [{"field": "ethnicity", "column": "民族", "held": on_roll.ethnicity or "(空)", "sent": "满族"}]
    assert stored() == before  # the new person of row 1 is not enrolled either
    # the same person sent as on the roll, fields left out are not compared
    same = {"name": on_roll.name, "gender": "M", "id_number": on_roll.id_number, "category": "full", "unit": "B1",
            "joined_on": on_roll.joined_on.isoformat(), "full_on": on_roll.full_on.isoformat()}
    r = post(client, MEMBERS, {"members": [same]}, secret)
    assert r.status_code == 200 and body(r)["rows"] == [{"row": 1, "result": "unchanged", "id": on_roll.pk}]


def test_unknown_fields_wrong_types_and_empty_lists_are_400_and_save_nothing(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])
    before = stored()
    cases = [
        ({"members": [person(30), {**person(31), "nickname": "小王"}]}, {(2, "nickname")}),
        ({"members": [person(32, name=["张", "三"])]}, {(1, "name")}),
        ({"members": [person(33, phone={"a": 1})]}, {(1, "phone")}),
        ({"members": [person(34, gender=True)]}, {(1, "gender")}),
    ]
    for data, where in cases:
        r = post(client, MEMBERS, data, secret)
        assert r.status_code == 400 and body(r)["code"] == "invalid", r.content
        assert {(e["row"], e["field"]) for e in body(r)["errors"]["rows"]} == where
    for data in ({"members": []}, {"members": "张三"}, {"people": [person(35)]}, [person(36)], {}):
        r = post(client, MEMBERS, data, secret)
        assert r.status_code == 400 and body(r)["message"], (data, r.content)
    r = client.post(MEMBERS, "{not json", content_type="application/json", **bearer(secret))
    assert r.status_code == 400 and body(r)["code"] == "malformed"
    assert stored() == before


def test_a_dry_run_checks_and_saves_nothing(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])
    before = stored()
    r = post(client, MEMBERS, {"members": [person(40), person(41)], "dry_run": True}, secret)
    assert r.status_code == 200
    assert body(r) == {"dry_run": True, "created": 0, "unchanged": 0,
                       "rows": [{"row": 1, "result": "to_create", "id": None}, {"row": 2, "result": "to_create", "id": None}]}
    assert stored() == before


def test_a_token_imports_only_where_its_owner_manages_and_only_if_it_may_write(client, org):  # noqa: F811
    before = stored()
    # B2's secretary: B1 is not theirs, and B1's member cannot be enrolled again in B2
    on_roll = Member.objects.get(user=org["member"])
    r = post(client, MEMBERS, {"members": [person(50), person(51, unit="B2", id_number=on_roll.id_number)]},
             personal(org["sec_b2"]))
    assert r.status_code == 400
    text = r.content.decode()
    reasons = {e["row"]: e["message"] for e in body(r)["errors"]["rows"]}
    assert "不在您的管理范围内" in reasons[1] and "请联系上级组织" in reasons[2]
    assert org["b1"].name not in text and on_roll.name not in text  # nothing of B1 named
    # an integration token of the 体系管理员 cut to B2
    cut = tokens.token_create_integration(actor=org["admin"], name="人事系统", units=[org["b2"]], write=True).secret
    r = post(client, MEMBERS, {"members": [person(52)]}, cut)
    assert r.status_code == 400 and org["b1"].name not in r.content.decode()
    assert post(client, MEMBERS, {"members": [person(53, unit="B2")]}, cut).status_code == 200
    # a read-only token, and a plain member's token
    read_only, plain = personal(org["sec_b1"], write=False), personal(org["member"])
    before = stored()
    r = post(client, MEMBERS, {"members": [person(54)]}, read_only)
    assert r.status_code == 403 and body(r)["code"] == "token_read_only"
    r = post(client, MEMBERS, {"members": [person(55)]}, plain)
    assert r.status_code == 403 and body(r)["code"] == "not_permitted"
    assert stored() == before


def test_checking_rows_costs_the_same_queries_for_ten_rows_as_for_two(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])

    def queries(n: int) -> int:
        with CaptureQueriesContext(connection) as q:
            r = post(client, MEMBERS, {"members": [person(60 + i) for i in range(n)], "dry_run": True}, secret)
        assert r.status_code == 200
        return len(q)

    queries(1)  # the token's first use
    assert queries(10) == queries(2)


# ------------------------------------------------------------------------------ meetings


def meeting(ext: str, **kw) -> dict:
    row = {"external_id": ext, "unit": "B1", "date": "2025-03-10", "category": "branch_general_meeting",
           "topic": "学习贯彻全会精神", "expected": "4", "present": "4"}
    return {**row, **kw}


def test_meetings_held_are_recorded_as_checked_history_by_their_external_id(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])
    rows = [meeting("zhdj-1001"), meeting("zhdj-1002", date="2025-05-20", category="党课", topic="书记讲党课",
                                         expected=4, present=3)]
    r = post(client, MEETINGS, {"meetings": rows}, secret)
    assert r.status_code == 200, r.content
    out = body(r)
    assert (out["created"], [x["result"] for x in out["rows"]]) == (2, ["created", "created"])
    occ = Occurrence.objects.get(pk=out["rows"][0]["id"])
    assert (occ.external_id, occ.state, occ.held_on, occ.imported_by, occ.unit) == (
        "zhdj-1001", State.CHECKED, dt.date(2025, 3, 10), org["sec_b1"], org["b1"])
    assert (occ.record.expected_count, occ.record.present_count) == (4, 4)
    assert set(LedgerEntry.objects.filter(obj_id__in=[str(occ.pk), str(occ.record.pk)], action__endswith="import_history")
               .values_list("reason", flat=True)) == {history_import.EXTERNAL_REASON}
    assert Occurrence.objects.get(pk=out["rows"][1]["id"]).record.present_count == 3

    before = stored()
    again = post(client, MEETINGS, {"meetings": rows}, secret)
    assert again.status_code == 200 and (body(again)["created"], body(again)["unchanged"]) == (0, 2)
    assert stored() == before

    # the other system now says 3 came: a 409 naming the field, nothing changed
    r = post(client, MEETINGS, {"meetings": [meeting("zhdj-1001", present="3"), meeting("zhdj-1003", date="2025-06-02")]},
             secret)
    assert r.status_code == 409, r.content
    [row] = body(r)["errors"]["rows"]
    assert (row["row"], row["id"]) == (1, occ.pk)
    assert row["differences"] == [{"field": "present", "column": "实到人数", "held": "4", "sent": "3"}]
    assert stored() == before

    # a meeting of that day recorded here under another number (or none) is not a new one
    r = post(client, MEETINGS, {"meetings": [meeting("other-7")]}, secret)
    assert r.status_code == 409
    assert body(r)["errors"]["rows"][0]["differences"] == [
        {"field": "external_id", "column": "外部编号", "held": "zhdj-1001", "sent": "other-7"}]
    assert stored() == before


def test_meeting_rows_need_an_external_id_once_a_past_day_and_a_unit_in_scope(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])
    tomorrow = (dt.date.today() + dt.timedelta(days=1)).isoformat()
    before = stored()
    r = post(client, MEETINGS, {"meetings": [
        meeting("", date="2025-04-01"), meeting("x-1", date="2025-04-02"), meeting("x-1", date="2025-04-03"),
        meeting("x-2", date=tomorrow), meeting("x-3", unit="B2"), meeting("x-4", category="篮球赛"),
        meeting("x-5", present="5", expected="4")]}, secret)
    assert r.status_code == 400, r.content
    got = {(e["row"], e["field"]) for e in body(r)["errors"]["rows"]}
    assert got == {(1, "external_id"), (3, "external_id"), (4, "date"), (5, "unit"), (6, "category"), (7, "present")}
    assert stored() == before
    # another branch's secretary cannot see or reuse B1's numbers
    ok = post(client, MEETINGS, {"meetings": [meeting("b1-1")]}, secret)
    assert ok.status_code == 200
    r = post(client, MEETINGS, {"meetings": [meeting("b1-1", unit="B2")]}, personal(org["sec_b2"]))
    assert r.status_code == 400 and body(r)["errors"]["rows"][0]["message"] == "该外部编号已被其他组织的记录使用"
    assert org["b1"].name not in r.content.decode()


def test_an_imported_meeting_shows_its_external_id_and_can_be_found_by_it(client, org):  # noqa: F811
    secret = personal(org["sec_b1"])
    r = post(client, MEETINGS, {"meetings": [meeting("zhdj-2001")]}, secret)
    pk = body(r)["rows"][0]["id"]
    found = client.get("/api/v1/occurrences/?external_id=zhdj-2001", **bearer(secret))
    assert [o["id"] for o in body(found)["results"]] == [pk]
    assert body(found)["results"][0]["external_id"] == "zhdj-2001"
    client.force_login(org["sec_b1"])
    page = client.get(reverse("occurrence_detail", args=[pk])).content.decode()
    assert "zhdj-2001" in page and "外部编号" in page
    card = page.split('id="imported-history">', 1)[1].split("</p>", 1)[0]
    assert card.startswith("历史记录:已在其他系统登记") and "系统启用前" not in card  # not a file of past years' meetings
    assert "从其他系统导入的会议记录,无需再处理" in page and "往年会议" not in page
