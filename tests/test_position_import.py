"""任职记录导入: positions and terms from an office's sheet, through the same preview and confirm as
the roster — create / unchanged / differs / errors, every row put through the services that
record an office, all or nothing, scope-checked."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from qms import ledger, position_import, roster, services
from qms.models import LedgerEntry, MemberEvent, Position
from tests import factories
from tests import imports_support as support
from tests.imports_support import account, office_sheet, staged, upload_page

pytestmark = pytest.mark.django_db
admin, secretary = support.admin, support.secretary  # the fixtures
HEAD = ["序号", "姓名", "身份证号码", "党组织", "职务", "任职时间", "免职时间"]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rosters"


def sheet(rows, head=HEAD) -> bytes:
    return office_sheet(rows, head, title="测试党委党组织班子成员任职情况表", note="注:免职时间空白表示仍在任")


def state():
    return Position.objects.count(), LedgerEntry.objects.count()


def preview(data: bytes, actor):
    return staged(position_import.STEPS, data, actor)


def test_terms_are_previewed_then_recorded_through_the_services(tree, admin):
    m1, m2 = tree["m1"], tree["m2"]
    services.position_assign(actor=None, member=m1[0], unit=tree["b1"], title="secretary", start=dt.date(2024, 1, 1))
    services.position_assign(actor=None, member=m2[0], unit=tree["b2"], title="organization", start=dt.date(2024, 1, 1))
    data = sheet([
        # the 书记 who took over is written before the one who left: recorded in term order
        ["二支部1", None, "第二党支部", "支部书记", "2021年7月1日", None],
        ["二支部2", m2[2].id_number.lower(), "B2", "书记", "2018.7.1", "2021-06-30"],
        ["一支部1", None, "第一党小组", "组长", "2024-01", None],
        [" 一支部0 ", None, "第一党支部", "书记", 45292, None],  # already recorded: unchanged
        ["二支部0", None, "第二党支部", "组织委员", "2023-12-01", None],  # recorded with another start: differs
    ])
    before = state()
    token, result = preview(data, admin)
    assert result.ok, result.errors
    assert [(r.row, r.name, r.unit, r.title, r.start, r.end) for r in result.to_create] == [
        (3, "二支部1", "第二党支部", "书记", "2021-07-01", ""),
        (4, "二支部2", "第二党支部", "书记", "2018-07-01", "2021-06-30"),
        (5, "一支部1", "第一党小组", "党小组长", "2024-01-01", "")]
    assert [r.row for r in result.same] == [6]
    [d] = result.differs
    assert (d.row, d.name) == (7, "二支部0")
    assert [(x.column, x.on_roll, x.in_file) for x in d.differences] == [("任职时间", "2024-01-01", "2023-12-01")]
    assert state() == before  # the services' dry run left nothing
    last_seq = LedgerEntry.objects.order_by("-seq").values_list("seq", flat=True).first()
    done = position_import.confirm_positions(token, actor=admin, seen=result.fingerprint)
    assert done.ok and done.created == 3
    old = Position.objects.get(member=m2[2])
    assert (old.title, old.start, old.end) == ("secretary", dt.date(2018, 7, 1), dt.date(2021, 6, 30))
    new = Position.objects.get(member=m2[1])
    assert (new.unit, new.start, new.end) == (tree["b2"], dt.date(2021, 7, 1), None)
    assert Position.objects.get(member=m1[1]).unit == tree["g1"]
    assert Position.objects.get(member=m2[0]).start == dt.date(2024, 1, 1)  # never changed by a file
    actions = list(LedgerEntry.objects.filter(seq__gt=last_seq).values_list("action", flat=True))
    # every rule of an appointment applies: the new 书记 of B2 has no 任前培训 on record, so the
    # event that makes 补行任前培训 owed is written too; not for the old 书记's ended term
    untrained = set(MemberEvent.objects.filter(kind="untrained_secretary").values_list("member", flat=True))
    assert untrained == {m1[0].pk, m2[1].pk}  # B1's 书记 appointed above, B2's new one; not the ended term
    assert sorted(actions) == ["member_event.create"] + ["position.assign"] * 3 + ["position.end"]
    assert LedgerEntry.objects.get(action="position.end").reason == position_import.END_REASON
    assert ledger.verify().ok


@pytest.mark.parametrize(("row", "column", "reason"), [
    (["", None, "B1", "委员", "2024-01-01", None], "姓名", "姓名不能为空"),
    (["无此人", None, "B1", "委员", "2024-01-01", None], "姓名", "找不到名为“无此人”的在册党员"),
    (["一支部2", "110101199001011234", "B1", "委员", "2024-01-01", None], "身份证号码", "找不到该身份证号的在册党员"),
    (["一支部2", None, "NOPE", "委员", "2024-01-01", None], "党组织", "找不到编码或名称为“NOPE”的党组织"),
    (["一支部2", None, "B1", "主任", "2024-01-01", None], "职务", "职务“主任”无法识别"),
    (["一支部2", None, "B1", "委员", None, None], "任职时间", "任职日期不能为空"),
    (["一支部2", None, "B1", "委员", "2999-01-01", None], "任职时间", "任职时间不能晚于今天"),
    (["一支部2", None, "B1", "委员", "2024-01-01", "2023-01-01"], "免职时间", "免职日期不能早于任职日期"),
    (["一支部2", None, "B1", "委员", "2024年13月", None], "任职时间", "无法识别"),
    # refused by the service itself: run in the preview, rolled back
    (["一支部2", None, "B1", "书记", "2024-06-01", None], "职务", "第一党支部 已有在任书记 1 名"),
    (["一支部2", None, "B1", "党小组长", "2024-06-01", None], "职务", "党支部不设党小组长"),
])
def test_each_error_names_the_files_row_and_header_and_nothing_is_saved(tree, admin, row, column, reason):
    services.position_assign(actor=None, member=tree["m1"][0], unit=tree["b1"], title="secretary", start=dt.date(2024, 1, 1))
    before = state()
    token, result = preview(sheet([["一支部3", None, "B1", "宣传委员", "2024-01-01", None], row]), admin)
    assert [(e.row, e.column) for e in result.errors] == [(4, column)], result.errors
    assert reason in result.errors[0].reason
    assert position_import.confirm_positions(token, actor=admin, seen=result.fingerprint).created == 0
    assert state() == before


def test_an_ambiguous_name_names_the_units_not_the_id_numbers(tree, admin):
    twin = factories.member(tree["b2"], "一支部2")
    _token, result = preview(sheet([["一支部2", None, "测试党委", "委员", "2024-01-01", None]]), admin)
    [e] = result.errors
    assert (e.row, e.column) == (3, "姓名")
    assert "对应 2 名党员" in e.reason and "第一党支部" in e.reason and "第二党支部" in e.reason
    assert twin.id_number not in e.reason and tree["m1"][2].id_number not in e.reason
    # within the office's own organisation the name is one person; with the 身份证号 too
    _token, result = preview(sheet([["一支部2", None, "B2", "委员", "2024-01-01", None],
                                    ["一支部2", tree["m1"][2].id_number, "测试党委", "委员", "2024-01-01", None]]), admin)
    assert result.ok, result.errors
    assert len(result.to_create) == 2


def test_a_secretary_appoints_in_their_branch_only(tree, secretary):
    _token, result = preview(sheet([["一支部1", None, "第一党支部", "组织委员", "2024-01-01", None],
                                    ["二支部1", None, "第一党支部", "宣传委员", "2024-01-01", None],
                                    ["一支部2", None, "B2", "委员", "2024-01-01", None]]), secretary)
    reasons = {e.row: e.reason for e in result.errors}
    assert reasons[4] == "找不到名为“二支部1”的在册党员,或其不在您的管理范围内"  # a member of another branch
    assert reasons[5] == "找不到编码或名称为“B2”的党组织,或该组织不在您的管理范围内"
    token, result = preview(sheet([["一支部1", None, "第一党支部", "组织委员", "2024-01-01", None]]), secretary)
    assert position_import.confirm_positions(token, actor=secretary, seen=result.fingerprint).created == 1


def test_stale_preview_and_another_users_token_are_refused(tree, admin, secretary):
    token, result = preview(sheet([["一支部1", None, "B1", "组织委员", "2024-01-01", None]]), admin)
    with pytest.raises(roster.PendingGone):
        position_import.confirm_positions(token, actor=secretary, seen=result.fingerprint)
    services.position_assign(actor=None, member=tree["m1"][1], unit=tree["b1"], title="organization",
                             start=dt.date(2024, 1, 1))
    before = state()
    again = position_import.confirm_positions(token, actor=admin, seen=result.fingerprint)
    assert again.created == 0 and "预览已不准确" in again.notice and state() == before
    assert [r.row for r in again.same] == [3]


def test_the_fixture_file(tree, admin):
    """The office sheet kept in tests/fixtures/rosters: two sheets, titles, notes, office words."""
    data = (FIXTURES / "positions-office.xlsx").read_bytes()
    _token, result = preview(data, admin)
    assert result.ok, result.errors
    assert [(r.sheet, r.row, r.name, r.title, r.start, r.end) for r in result.to_create] == [
        ("第一党支部", 4, "一支部0", "书记", "2019-07-01", "2023-12-31"),
        ("第一党支部", 5, "一支部1", "书记", "2024-01-01", ""),
        ("第一党支部", 6, "一支部2", "组织委员", "2024-01-01", ""),
        ("第一党支部", 7, "一支部3", "党小组长", "2024-03-01", ""),
        ("第二党支部", 4, "二支部0", "书记", "2024-01-01", ""),
        ("第二党支部", 5, "二支部1", "纪检委员", "2024-01-01", "")]


@pytest.mark.parametrize(("who", "allowed"), [("admin", True), ("secretary", True), ("member", False)])
def test_the_pages(client, tree, admin, secretary, who, allowed):
    users = {"admin": admin, "secretary": secretary}
    if who == "member":
        users["member"] = account(tree["m1"][3], "plain")
    client.force_login(users[who])
    if not allowed:
        assert client.get(reverse("positions_import")).status_code == 403
        r = client.post(reverse("positions_import"), {"file": SimpleUploadedFile("任职.xlsx", b"x")})
        assert r.status_code == 403
        return
    data = sheet([["一支部1", None, "第一党支部", "组织委员", "2024年1月1日", None]])
    body, token, seen = upload_page(client, "positions_import", data, "任职.xlsx")
    assert "任职记录导入预览" in body and "一支部1" in body and "现在还没有保存任何数据" in body
    r = client.post(reverse("positions_import_confirm"), {"token": token, "seen": seen})
    assert r.status_code == 302
    assert Position.objects.filter(member=tree["m1"][1], title="organization").exists()
    bad = client.post(reverse("positions_import"), {"file": SimpleUploadedFile("坏.xlsx", b"PK\x03\x04broken")},
                      follow=True)
    assert bad.status_code == 200 and "未保存任何数据" in bad.content.decode()
    assert client.get(reverse("positions_import_preview", args=["x" * 32])).status_code == 302
