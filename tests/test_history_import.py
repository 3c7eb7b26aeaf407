"""往年会议记录导入: meetings held before the system was used, from an office's list, through the
same preview and confirm as the roster; each becomes a checked occurrence in its period's slot,
marked as imported history, counted by the compliance views."""
from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from procedures.library_loader import load_library
from qms import ledger, roster, services
from qms.models import LedgerEntry
from tests.imports_support import account, make_admin, office_sheet, staged, upload_page
from workflows import history_import
from workflows.compliance import compliance
from workflows.models import Occurrence, State

pytestmark = pytest.mark.django_db
HEAD = ["序号", "党组织", "日期", "类别", "主题/议题", "应到人数", "实到人数"]
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rosters"


def sheet(rows, head=HEAD) -> bytes:
    return office_sheet(rows, head, title="2025年“三会一课”开展情况登记表", note="注:实到人数含请假后补课人员")


@pytest.fixture
def org(tree):
    load_library()
    # B1 has a committee (书记, 组织委员, 宣传委员), so its 支委会 is due; it was founded in 2019
    for m, title in zip(tree["m1"], ("secretary", "organization", "propaganda"), strict=False):
        services.position_assign(actor=None, member=m, unit=tree["b1"], title=title, start=dt.date(2019, 1, 1))
    tree["b1"] = services.unit_update(tree["b1"], actor=None, reason="补录成立日期", founded_on=dt.date(2019, 1, 1))
    return tree


@pytest.fixture
def admin(org):
    return make_admin(org["committee"])


@pytest.fixture
def secretary(org):
    return account(org["m1"][0], "sec1")  # 第一党支部's 书记 since 2019 (``org``)


def state():
    return Occurrence.objects.count(), LedgerEntry.objects.count()


def preview(data: bytes, actor):
    return staged(history_import.STEPS, data, actor)


def test_past_meetings_are_previewed_then_recorded_as_checked_history(org, admin):
    data = sheet([
        ["第一党支部", "2025年3月10日", "支部党员大会", "学习贯彻全会精神", 4, 4],
        ["B1", "2025.1.15", "支委会", "研究年度工作计划", 1, "1人"],
        ["第一党小组", 45689, "党小组会", "交流学习体会", None, None],  # 2025-02-01, an unstyled serial
        ["B1", "2025-05-20", "党课", "书记讲党课", 4, 3],
        ["B1", "2025-02-03", "支委会", "", None, None],  # January's slot is taken by row 4: February's
    ])
    before = state()
    token, result = preview(data, admin)
    assert result.ok, result.errors
    assert [(r.row, r.unit, r.date, r.category) for r in result.to_create] == [
        (3, "第一党支部", "2025-03-10", "召开支部党员大会"), (4, "第一党支部", "2025-01-15", "召开支部委员会会议"),
        (5, "第一党小组", "2025-02-01", "召开党小组会"), (6, "第一党支部", "2025-05-20", "安排党课"),
        (7, "第一党支部", "2025-02-03", "召开支部委员会会议")]
    assert state() == before  # nothing saved by the preview
    done = history_import.confirm_history(token, actor=admin, seen=result.fingerprint)
    assert done.ok and done.created == 5
    occ = Occurrence.objects.get(unit=org["b1"], obligation_key="branch_general_meeting")
    assert (occ.state, occ.held_on, occ.period_start, occ.period_end, occ.late) == (
        State.CHECKED, dt.date(2025, 3, 10), dt.date(2025, 1, 1), dt.date(2025, 3, 31), False)
    assert (occ.topic, occ.imported_by, occ.imported_at is not None) == ("学习贯彻全会精神", admin, True)
    assert (occ.record.expected_count, occ.record.present_count, occ.record.checked_by) == (4, 4, None)
    assert sorted(Occurrence.objects.filter(unit=org["b1"], obligation_key="branch_committee_meeting")
                  .values_list("period_start", flat=True)) == [dt.date(2025, 1, 1), dt.date(2025, 2, 1)]
    assert Occurrence.objects.get(unit=org["g1"]).record.expected_count is None
    actions = [e.action for e in LedgerEntry.objects.order_by("-seq")[:10]]
    assert actions.count("occurrence.import_history") == 5 and actions.count("record.import_history") == 5
    assert ledger.verify().ok
    # the compliance views count them as held on time
    m = compliance(org["committee"], 2025)
    assert m.by_obligation["branch_general_meeting"].on_time == 1
    assert m.by_obligation["branch_committee_meeting"].on_time == 2
    # the same file again: every meeting is already recorded
    _token, again = preview(data, admin)
    assert again.ok and not again.to_create and [r.row for r in again.same] == [3, 4, 5, 6, 7]


@pytest.mark.parametrize(("row", "column", "reason"), [
    (["", "2025-03-01", "党课", "", None, None], "党组织", "党组织不能为空"),
    (["NOPE", "2025-03-01", "党课", "", None, None], "党组织", "找不到编码或名称为“NOPE”的党组织"),
    (["B1", "", "党课", "", None, None], "日期", "日期不能为空"),
    (["B1", "2999-03-01", "党课", "", None, None], "日期", "日期不能晚于今天"),
    (["B1", "2018-12-31", "党课", "", None, None], "日期", "早于第一党支部的成立日期(2019-01-01)"),
    (["B1", "2025年13月", "党课", "", None, None], "日期", "无法识别"),
    (["B1", "2025-03-01", "", "", None, None], "类别", "类别不能为空"),
    (["B1", "2025-03-01", "联欢会", "", None, None], "类别", "“联欢会”不是第一党支部须开展的会议或活动"),
    (["B1", "2025-03-01", "党小组会", "", None, None], "类别", "“党小组会”不是第一党支部须开展的会议或活动"),
    (["B1", "2025-03-01", "党课", "", "四", None], "应到人数", "人数“四”应为整数"),
    (["B1", "2025-03-01", "党课", "", 3, 4], "实到人数", "实到人数不能多于应到人数"),
    (["B1", "2025-01-20", "党课", "", None, None], "日期", "与第 3 行是同一次会议"),
])
def test_each_error_names_the_files_row_and_header_and_nothing_is_saved(org, admin, row, column, reason):
    before = state()
    data = sheet([["B1", "2025-01-20", "党课", "第一季度党课", 4, 4], row])
    token, result = preview(data, admin)
    assert [(e.row, e.column) for e in result.errors] == [(4, column)], result.errors
    assert reason in result.errors[0].reason
    assert history_import.confirm_history(token, actor=admin, seen=result.fingerprint).created == 0
    assert state() == before


def test_a_period_the_system_already_holds_is_not_rewritten(org, admin):
    ob = history_import._obligation(org["b1"], "党课", {})
    Occurrence.objects.create(unit=org["b1"], obligation=ob, obligation_key=ob.key, period_start=dt.date(2025, 4, 1),
                              period_end=dt.date(2025, 6, 30), due_date=dt.date(2025, 6, 30), state=State.MISSED)
    _token, result = preview(sheet([["B1", "2025-05-20", "党课", "", None, None]]), admin)
    [e] = result.errors
    assert (e.row, e.column) == (3, "日期") and "已在系统中(状态:未开展)" in e.reason


def test_a_secretary_records_for_their_branch_only(org, secretary):
    _token, result = preview(sheet([["B1", "2025-03-01", "党课", "", None, None],
                                    ["B2", "2025-03-01", "党课", "", None, None]]), secretary)
    assert [(e.row, e.reason) for e in result.errors] == [
        (4, "找不到编码或名称为“B2”的党组织,或该组织不在您的管理范围内")]
    token, result = preview(sheet([["B1", "2025-03-01", "党课", "", None, None]]), secretary)
    assert history_import.confirm_history(token, actor=secretary, seen=result.fingerprint).created == 1
    # (the secretary's appointment without 任前培训 also made a 补行任前培训 owed in B1)
    assert Occurrence.objects.get(unit=org["b1"], imported_by__isnull=False).imported_by == secretary


def test_stale_preview_and_another_users_token_are_refused(org, admin, secretary):
    token, result = preview(sheet([["B1", "2025-03-01", "党课", "", None, None]]), admin)
    with pytest.raises(roster.PendingGone):
        history_import.confirm_history(token, actor=secretary, seen=result.fingerprint)
    t2, r2 = preview(sheet([["B1", "2025-03-01", "党课", "", None, None]]), secretary)
    assert history_import.confirm_history(t2, actor=secretary, seen=r2.fingerprint).created == 1
    before = state()
    again = history_import.confirm_history(token, actor=admin, seen=result.fingerprint)
    assert again.created == 0 and "预览已不准确" in again.notice and state() == before
    assert [r.row for r in again.same] == [3]


def test_the_fixture_file(org, admin):
    """The office ledger kept in tests/fixtures/rosters: GBK CSV, a title row, notes, office words."""
    _token, result = preview((FIXTURES / "meetings-2025-gbk.csv").read_bytes(), admin)
    assert result.ok, result.errors
    assert [(r.row, r.unit, r.date, r.category, r.expected, r.present) for r in result.to_create] == [
        (3, "第一党支部", "2025-01-15", "召开支部委员会会议", "1", "1"),
        (4, "第一党支部", "2025-03-10", "召开支部党员大会", "4", "4"),
        (5, "第一党支部", "2025-03-28", "开展主题党日", "4", "3"),
        (6, "第一党小组", "2025-02-01", "召开党小组会", "2", "2"),
        (7, "第二党支部", "2025-06-30", "安排党课", "3", "3")]


@pytest.mark.parametrize(("who", "allowed"), [("admin", True), ("secretary", True), ("member", False)])
def test_the_pages(client, org, admin, secretary, who, allowed):
    users = {"admin": admin, "secretary": secretary}
    if who == "member":
        users["member"] = account(org["m1"][3], "plain")
    client.force_login(users[who])
    if not allowed:
        assert client.get(reverse("history_import")).status_code == 403
        r = client.post(reverse("history_import"), {"file": SimpleUploadedFile("会议.xlsx", b"x")})
        assert r.status_code == 403
        return
    body, token, seen = upload_page(client, "history_import", sheet(
        [["第一党支部", "2025年3月1日", "主题党日", "重温入党誓词", 4, 4]]), "会议.xlsx")
    assert "往年会议记录导入预览" in body and "开展主题党日" in body and "现在还没有保存任何数据" in body
    r = client.post(reverse("history_import_confirm"), {"token": token, "seen": seen})
    assert r.status_code == 302 and Occurrence.objects.filter(unit=org["b1"], held_on=dt.date(2025, 3, 1)).exists()
    bad = client.post(reverse("history_import"), {"file": SimpleUploadedFile("坏.xlsx", b"PK\x03\x04broken")}, follow=True)
    assert bad.status_code == 200 and "未保存任何数据" in bad.content.decode()
    assert client.get(reverse("history_import_preview", args=["x" * 32])).status_code == 302


def test_the_occurrence_page_says_it_is_imported_history(client, org, admin):
    token, result = preview(sheet([["B1", "2025-03-01", "党课", "第一季度党课", 4, 3]]), admin)
    history_import.confirm_history(token, actor=admin, seen=result.fingerprint)
    occ = Occurrence.objects.get(unit=org["b1"], imported_by__isnull=False)
    admin.first_name = "组织部张三"
    admin.save()
    client.force_login(admin)
    body = client.get(reverse("occurrence_detail", args=[occ.pk])).content.decode()
    assert "由组织部张三于" in body  # by name, not by login
    assert "往年会议的历史记录(导入),无需再处理" in body  # no 闭环 asked of a past meeting
    assert "按往年会议记录导入,未经系统检查" in body and "应到 4 人,实到 3 人" in body
