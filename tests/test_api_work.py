"""The REST API's writes (api/views_work.py, api/views_capa.py): occurrences and their PDCA
transitions, records, attendance, attachments, and corrective-action tickets — each through
the web page's service function, so the same guards, permission matrix, scope and ledger apply.
Every illegal transition is tried and answered 409 (or 403 for the acts that need an electronic
signature), with nothing stored."""
from __future__ import annotations

import datetime as dt
import json

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from api import tokens
from audits.capa import services as capa
from audits.capa.models import Nonconformity
from qms import ledger
from qms.models import LedgerEntry, Member
from tests.test_api import _base, body, org  # noqa: F401  (the once-built organisation, the JSON body)
from tests.test_permissions_web import _checked, _held, _occ, _planned, _recorded, _roster
from workflows.models import Attachment, Occurrence, Record

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()


def bearer(user, write=True) -> dict:
    return {"HTTP_AUTHORIZATION": f"Bearer {tokens.token_create_personal(actor=user, name='脚本', write=write).secret}"}


def post(client, url, data, h):
    return client.post(url, json.dumps(data), content_type="application/json", **h)


def unchanged(fn):
    """Run ``fn`` (a request); assert the ledger did not move (nothing stored) and return its answer."""
    head = ledger.head()
    r = fn()
    assert ledger.head() == head, r.content
    return r


# ------------------------------------------------------------------------------ occurrences


def test_lists_filter_by_unit_period_status_and_overdue(client, org):  # noqa: F811
    h = bearer(org["admin"])
    rows = body(client.get("/api/v1/occurrences/?page_size=200", **h))
    assert rows["count"] > 0
    b2 = body(client.get("/api/v1/occurrences/?unit=B2&page_size=200", **h))["results"]
    assert b2 and {r["unit"] for r in b2} == {"B2"}
    start = dt.date(TODAY.year, 1, 1)
    period = body(client.get(f"/api/v1/occurrences/?from={start}&to={start + dt.timedelta(days=31)}&page_size=200", **h))["results"]
    assert period and all(r["period_start"] <= str(start + dt.timedelta(days=31)) and r["period_end"] >= str(start) for r in period)
    late = body(client.get("/api/v1/occurrences/?overdue=true&page_size=200", **h))["results"]
    assert all(r["overdue"] for r in late)
    assert all(r["state"] == "open" for r in body(client.get("/api/v1/occurrences/?status=open", **h))["results"])


def test_plan_record_attend_attach_submit_through_the_services(client, org, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path
    occ = _occ(org)
    day = max(occ.period_start, TODAY - dt.timedelta(days=1)) if occ.period_start < TODAY else occ.period_start
    h = bearer(org["sec_b1"])
    base = f"/api/v1/occurrences/{occ.pk}"
    r = post(client, f"{base}/transitions/plan/", {"planned_date": day.isoformat(), "place": "党员活动室", "topic": "学习党章"}, h)
    assert r.status_code == 200 and body(r)["state"] == "planned", r.content
    assert LedgerEntry.objects.filter(action="occurrence.plan", obj_id=str(occ.pk), actor_id=org["sec_b1"].pk).exists()
    people = _roster(org, occ)
    r = post(client, f"{base}/record/", {"elements": {"time": f"{day}T09:00", "speeches": "书记传达",
                                                      "votes": {"for": len(people), "against": 0, "abstain": 0}}}, h)
    assert r.status_code == 200 and body(r)["elements"]["speeches"] == "书记传达", r.content
    for m in people:
        r = post(client, f"{base}/attendance/", {"member": m.pk, "presence": "present"}, h)
        assert r.status_code == 200, r.content
    assert len(body(client.get(f"{base}/attendance/", **h))) == len(people)
    pdf = SimpleUploadedFile("签到表.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n", content_type="application/pdf")
    r = client.post(f"{base}/attachments/", {"file": pdf}, **h)
    assert r.status_code == 201 and body(r)["name"] == "签到表.pdf", r.content
    assert [a["id"] for a in body(client.get(f"{base}/attachments/", **h))] == [Attachment.objects.get(record__occurrence=occ).pk]
    r = post(client, f"{base}/transitions/submit/", {"held_on": day.isoformat()}, h)
    assert r.status_code == 200 and body(r)["state"] == "held", r.content
    rec = Record.objects.get(occurrence=occ)
    assert body(client.get(f"/api/v1/records/{rec.pk}/", **h))["submitted_by"] == Member.objects.get(user=org["sec_b1"]).name


def test_checking_a_record_needs_a_signature_in_the_browser(client, org):  # noqa: F811
    occ = _held(org)
    for who in ("admin", "sec_c", "sec_b1"):
        h = bearer(org[who])
        r = unchanged(lambda h=h: post(client, f"/api/v1/occurrences/{occ.pk}/transitions/check/", {}, h))
        assert r.status_code == 403 and body(r)["code"] == "signature_required" and "浏览器" in body(r)["message"]
    assert Occurrence.objects.get(pk=occ.pk).state == "held"


ILLEGAL_OCCURRENCE = [
    # (stage, transition, body, who) — each refused with 409 by the service's guard
    ("held", "plan", {"planned_date": str(TODAY), "place": "会议室", "topic": "学习"}, "sec_b1"),
    ("checked", "plan", {"planned_date": str(TODAY), "place": "会议室", "topic": "学习"}, "sec_b1"),
    ("open", "submit", {"held_on": str(TODAY)}, "sec_b1"),
    ("checked", "submit", {"held_on": str(TODAY)}, "sec_b1"),
    ("planned", "close", {}, "sec_b1"),
    ("held", "close", {}, "sec_b1"),
    ("held", "cancel", {"reason": "改期"}, "sec_c"),
    ("checked", "cancel", {"reason": "改期"}, "admin"),
]


@pytest.mark.parametrize("stage,name,data,who", ILLEGAL_OCCURRENCE, ids=[f"{s}-{n}" for s, n, _d, _w in ILLEGAL_OCCURRENCE])
def test_every_illegal_occurrence_transition_is_409(client, org, stage, name, data, who):  # noqa: F811
    occ = {"open": _occ, "planned": _planned, "held": _held, "checked": _checked}[stage](org)
    state = Occurrence.objects.get(pk=occ.pk).state
    h = bearer(org[who])
    r = unchanged(lambda: post(client, f"/api/v1/occurrences/{occ.pk}/transitions/{name}/", data, h))
    assert r.status_code == 409 and body(r)["code"] == "transition_refused" and body(r)["message"], r.content
    assert Occurrence.objects.get(pk=occ.pk).state == state


def test_the_permission_matrix_answers_through_the_api(client, org):  # noqa: F811
    occ = _planned(org)
    # a unit cannot excuse itself: 取消 is for the level above (occurrence.cancel)
    h = bearer(org["sec_b1"])
    r = unchanged(lambda: post(client, f"/api/v1/occurrences/{occ.pk}/transitions/cancel/", {"reason": "改期"}, h))
    assert r.status_code == 403 and body(r)["code"] == "not_permitted" and "您无权" in body(r)["message"]
    # a 党员 sees the occurrence but may not plan it
    h = bearer(org["member"])
    r = unchanged(lambda: post(client, f"/api/v1/occurrences/{occ.pk}/transitions/plan/",
                               {"planned_date": str(TODAY), "place": "会议室", "topic": "学习"}, h))
    assert r.status_code == 403 and body(r)["code"] == "not_permitted"
    r = post(client, f"/api/v1/occurrences/{occ.pk}/transitions/cancel/", {"reason": "上级统一安排"}, bearer(org["sec_c"]))
    assert r.status_code == 200 and body(r)["state"] == "cancelled"


def test_bad_input_is_4xx_and_stores_nothing(client, org, settings):  # noqa: F811
    occ = _planned(org)
    h = bearer(org["sec_b1"])
    base = f"/api/v1/occurrences/{occ.pk}"
    cases = [
        (f"{base}/transitions/plan/", {"planned_date": "明天", "place": "会议室", "topic": "学习"}, 400, "invalid"),
        (f"{base}/transitions/plan/", {"planned_date": str(TODAY), "place": "会议室", "topic": "学习", "state": "closed"},
         400, "invalid"),  # an unknown field (a state is never writable)
        (f"{base}/transitions/submit/", {"held_on": 20260101}, 400, "invalid"),
        (f"{base}/transitions/submit/", [1, 2], 400, "invalid"),
        (f"{base}/record/", {"elements": "文本"}, 400, "invalid"),
        (f"{base}/attendance/", {"member": 10**30, "presence": "present"}, 400, "invalid"),
        (f"{base}/attendance/", {"member": 1, "presence": "maybe"}, 400, "invalid"),
        (f"{base}/transitions/plan/", {"planned_date": str(TODAY), "place": "会" * 101, "topic": "学习"}, 400, "invalid"),
    ]
    for url, data, status, code in cases:
        r = unchanged(lambda url=url, data=data: post(client, url, data, h))
        assert r.status_code == status and body(r)["code"] == code, (url, data, r.content)
    r = unchanged(lambda: client.post(f"{base}/transitions/plan/", "{not json", content_type="application/json", **h))
    assert r.status_code == 400 and body(r)["code"] == "malformed"
    r = unchanged(lambda: client.post(f"{base}/transitions/plan/", "a=1", content_type="text/plain", **h))
    assert r.status_code == 415 and body(r)["code"] == "unsupported_media_type"
    settings.QMS_API_MAX_BODY_BYTES = 1000
    r = unchanged(lambda: post(client, f"{base}/record/", {"elements": {"speeches": "长" * 2000}}, h))
    assert r.status_code == 413 and body(r)["code"] == "body_too_large"
    # a member of another branch is not on this one's attendance: outside the token's scope
    other = Member.objects.filter(memberships__unit=org["b2"]).first()
    r = unchanged(lambda: post(client, f"{base}/attendance/", {"member": other.pk, "presence": "present"}, h))
    assert r.status_code == 400 and body(r)["errors"] == {"member": ["党员不存在或不在权限范围内"]}


def test_a_disguised_upload_is_refused(client, org, settings, tmp_path):  # noqa: F811
    settings.MEDIA_ROOT = tmp_path
    occ = _recorded(org)
    h = bearer(org["sec_b1"])
    fake = SimpleUploadedFile("签到表.pdf", b"MZ\x90\x00" + b"\x00" * 100, content_type="application/pdf")
    r = unchanged(lambda: client.post(f"/api/v1/occurrences/{occ.pk}/attachments/", {"file": fake}, **h))
    assert r.status_code == 400 and body(r)["code"] == "invalid" and not Attachment.objects.filter(record__occurrence=occ).exists()
    settings.QMS_MAX_UPLOAD_BYTES = 1000
    big = SimpleUploadedFile("大.pdf", b"%PDF-1.4\n" + b"0" * 200_000, content_type="application/pdf")
    r = unchanged(lambda: client.post(f"/api/v1/occurrences/{occ.pk}/attachments/", {"file": big}, **h))
    assert r.status_code == 413 and body(r)["code"] == "body_too_large"


def test_another_branch_reaches_nothing_by_id(client, org):  # noqa: F811
    occ = _recorded(org)
    rec = Record.objects.get(occurrence=occ)
    h = bearer(org["sec_b2"])
    for url in (f"/api/v1/occurrences/{occ.pk}/", f"/api/v1/records/{rec.pk}/", f"/api/v1/occurrences/{occ.pk}/record/",
                f"/api/v1/occurrences/{occ.pk}/attendance/", f"/api/v1/occurrences/{occ.pk}/attachments/",
                f"/api/v1/nonconformities/{org['nc'].pk}/"):
        r = client.get(url, **h)
        assert r.status_code == 404 and body(r)["code"] == "not_found", url
    for name, data in (("plan", {"planned_date": str(TODAY), "place": "x", "topic": "y"}), ("submit", {"held_on": str(TODAY)}),
                       ("check", {}), ("close", {}), ("cancel", {"reason": "x"})):
        r = unchanged(lambda name=name, data=data: post(client, f"/api/v1/occurrences/{occ.pk}/transitions/{name}/", data, h))
        assert r.status_code == 404, name
    ids = {o["id"] for o in body(client.get("/api/v1/occurrences/?page_size=200", **h))["results"]}
    assert ids and not Occurrence.objects.filter(pk__in=ids, unit=org["b1"]).exists()
    assert body(client.get("/api/v1/nonconformities/", **h))["results"] == []


def test_list_query_counts_do_not_grow_with_rows(client, org, django_assert_max_num_queries):  # noqa: F811
    _recorded(org)
    h = bearer(org["admin"])
    from tests.test_permissions_web import _audit

    _audit(org, opened=True)
    for url in ("/api/v1/occurrences/", "/api/v1/records/", "/api/v1/nonconformities/", "/api/v1/audits/"):
        with django_assert_max_num_queries(12):
            r = client.get(url + "?page_size=200", **h)
        assert r.status_code == 200 and body(r)["count"] >= 1, url


# ------------------------------------------------------------------------------ tickets


def _nc_step(org, step):  # noqa: F811
    nc = org["nc"]
    owner = nc.unit.memberships.first().member
    steps = [("acknowledged", lambda: capa.nc_acknowledge(nc, actor=org["sec_b1"])),
             ("analysed", lambda: capa.nc_analyse(nc, actor=org["sec_b1"], why=["为何"], root_cause="缺少制度")),
             ("planned", lambda: capa.nc_plan(nc, actor=org["sec_b1"], correction="补开", corrective_action="建立制度",
                                              owner=owner, due_date=TODAY + dt.timedelta(days=10))),
             ("implemented", lambda: capa.nc_implement(nc, actor=org["sec_b1"], evidence="已补开", done_on=TODAY))]
    for name, fn in steps:
        if step == "raised":
            break
        fn()
        if name == step:
            break
    return Nonconformity.objects.get(pk=nc.pk)


def test_a_ticket_moves_through_the_api(client, org):  # noqa: F811
    nc = org["nc"]
    owner = nc.unit.memberships.first().member
    h = bearer(org["sec_b1"])
    url = f"/api/v1/nonconformities/{nc.pk}/transitions"
    for name, data, state in (("acknowledge", {}, "acknowledged"),
                              ("analyse", {"why": ["为何未开", "没有提醒"], "root_cause": "缺少提醒制度"}, "analysed"),
                              ("plan", {"correction": "补开", "corrective_action": "建立提醒制度", "owner": owner.pk,
                                        "due_date": str(TODAY + dt.timedelta(days=10))}, "planned"),
                              ("implement", {"evidence": "已补开并建立制度", "done_on": str(TODAY)}, "implemented")):
        r = post(client, f"{url}/{name}/", data, h)
        assert r.status_code == 200 and body(r)["state"] == state, (name, r.content)
    # the implementer may not verify (ISO 19011 independence): the matrix's refusal, not the signature's
    r = unchanged(lambda: post(client, f"{url}/reject/", {"reason": "证据不足"}, h))
    assert r.status_code == 403 and body(r)["code"] == "not_permitted"
    r = post(client, f"{url}/reject/", {"reason": "证据不足"}, bearer(org["sec_c"]))
    assert r.status_code == 200 and body(r)["state"] == "planned"
    assert LedgerEntry.objects.filter(action="nc.reject", obj_id=str(nc.pk), actor_id=org["sec_c"].pk).exists()


ILLEGAL_TICKET = [
    ("raised", "analyse", {"why": ["为何"], "root_cause": "原因"}),
    ("raised", "plan", None),
    ("raised", "implement", {"evidence": "证据", "done_on": str(TODAY)}),
    ("raised", "reject", {"reason": "不行"}),
    ("raised", "review-effectiveness", {"effective": True, "note": "有效"}),
    ("acknowledged", "acknowledge", {}),
    ("acknowledged", "implement", {"evidence": "证据", "done_on": str(TODAY)}),
    ("analysed", "analyse", {"why": ["为何"], "root_cause": "原因"}),
    ("planned", "reject", {"reason": "不行"}),
    ("implemented", "plan", None),
    ("implemented", "review-effectiveness", {"effective": False, "note": "无效"}),
]


@pytest.mark.parametrize("stage,name,data", ILLEGAL_TICKET, ids=[f"{s}-{n}" for s, n, _d in ILLEGAL_TICKET])
def test_every_illegal_ticket_transition_is_409(client, org, stage, name, data):  # noqa: F811
    nc = _nc_step(org, stage)
    if data is None:
        data = {"correction": "补开", "corrective_action": "制度", "owner": nc.unit.memberships.first().member_id,
                "due_date": str(TODAY + dt.timedelta(days=5))}
    h = bearer(org["admin"])
    r = unchanged(lambda: post(client, f"/api/v1/nonconformities/{nc.pk}/transitions/{name}/", data, h))
    assert r.status_code == 409 and body(r)["code"] == "transition_refused" and body(r)["message"], r.content
    assert Nonconformity.objects.get(pk=nc.pk).state == stage


@pytest.mark.parametrize("name", ["verify", "close"])
def test_verifying_and_closing_a_ticket_need_a_signature(client, org, name):  # noqa: F811
    nc = _nc_step(org, "implemented")
    h = bearer(org["sec_c"])
    r = unchanged(lambda: post(client, f"/api/v1/nonconformities/{nc.pk}/transitions/{name}/", {}, h))
    assert r.status_code == 403 and body(r)["code"] == "signature_required"
    assert Nonconformity.objects.get(pk=nc.pk).state == "implemented"


# ------------------------------------------------------------------ audits, packs, matrix, indicators


def test_evidence_pack_request_status_and_download(client, org):  # noqa: F811
    from audits.evidence.models import EvidencePack

    h = bearer(org["sec_b1"])
    start, end = str(dt.date(TODAY.year, 1, 1)), str(TODAY)
    r = post(client, "/api/v1/packs/", {"unit": "B1", "start": start, "end": end}, h)
    assert r.status_code == 201 and body(r)["state"] == "queued" and body(r)["unit"] == "B1", r.content
    pk = body(r)["id"]
    assert LedgerEntry.objects.filter(action="pack.request", obj_id=str(pk)).exists()
    assert body(client.get(f"/api/v1/packs/{pk}/", **h))["state"] == "queued"
    r = client.get(f"/api/v1/packs/{pk}/download/pdf/", **h)
    assert r.status_code == 404 and body(r)["code"] == "pack_not_ready"
    # the same unit and period while one is being built: the service's refusal
    r = unchanged(lambda: post(client, "/api/v1/packs/", {"unit": "B1", "start": start, "end": end}, h))
    assert r.status_code == 409 and "正在生成" in body(r)["message"]
    # another branch: neither the pack nor a request for the first branch
    h2 = bearer(org["sec_b2"])
    assert client.get(f"/api/v1/packs/{pk}/", **h2).status_code == 404
    assert client.get(f"/api/v1/packs/{pk}/download/zip/", **h2).status_code == 404
    r = unchanged(lambda: post(client, "/api/v1/packs/", {"unit": "B1", "start": start, "end": end}, h2))
    assert r.status_code == 400 and body(r)["errors"] == {"unit": ["党组织不存在或不在权限范围内"]}
    # a 党员 may not request one (pack.request), a read-only token writes nothing
    for hh, code in ((bearer(org["member"]), "not_permitted"), (bearer(org["sec_b1"], write=False), "token_read_only")):
        r = unchanged(lambda hh=hh: post(client, "/api/v1/packs/", {"unit": "B1", "start": start, "end": str(TODAY)}, hh))
        assert r.status_code == 403 and body(r)["code"] == code
    assert EvidencePack.objects.filter(root=org["b1"]).count() == 1


def test_compliance_matrix_and_indicators_within_scope(client, org):  # noqa: F811
    h = bearer(org["sec_b1"])
    m = body(client.get(f"/api/v1/compliance/?unit=B1&year={TODAY.year}", **h))
    assert m["unit"] == "B1" and m["cells"] and {c["unit"] for c in m["cells"]} == {"B1"}
    assert set(m["overall"]) >= {"on_time", "missed", "rate"}
    ind = body(client.get(f"/api/v1/indicators/?year={TODAY.year}", **h))
    assert ind["unit"] == "B1" and {"compliance", "rectification"} <= {i["key"] for i in ind["indicators"]}
    h2 = bearer(org["sec_b2"])
    for url in ("/api/v1/compliance/?unit=B1", "/api/v1/indicators/?unit=B1"):
        r = client.get(url, **h2)
        assert r.status_code == 404 and body(r)["code"] == "not_found", url
    assert client.get("/api/v1/compliance/?year=1800", **h).status_code == 400


def test_audits_are_read_within_scope(client, org):  # noqa: F811
    from tests.test_permissions_web import _audit

    audit = _audit(org, opened=True)
    rows = body(client.get("/api/v1/audits/", **bearer(org["admin"])))["results"]
    assert [a["id"] for a in rows] == [audit.pk] and rows[0]["root"] == audit.root.code
    assert client.get(f"/api/v1/audits/{audit.pk}/", **bearer(org["sec_b2"])).status_code == 404
