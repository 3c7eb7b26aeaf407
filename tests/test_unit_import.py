"""组织架构导入: the unit tree from an office's sheet, through the same preview and confirm as the
roster — create / unchanged / differs / errors, parents in the file in any order, all or nothing."""
from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from qms import ledger, roster, unit_import
from qms.models import LedgerEntry, Unit
from tests import factories
from tests import imports_support as support
from tests.imports_support import account, office_sheet, staged, upload_page

pytestmark = pytest.mark.django_db
admin, secretary = support.admin, support.secretary  # the fixtures
HEAD = ["序号", "党组织编码", "党组织名称", "组织类型", "上级党组织", "成立时间", "换届时间"]


def sheet(rows) -> bytes:
    return office_sheet(rows, HEAD, title="测试党委所属党组织一览表", note="注:成立时间以批复文件为准")


def state():
    return Unit.objects.count(), LedgerEntry.objects.count()


def preview(data: bytes, actor):
    return staged(unit_import.STEPS, data, actor)


def test_a_tree_is_previewed_then_created_parents_first(tree, admin):
    data = sheet([
        ["G2B1", "第二总支第一支部", "支部", "第二党总支", "2024年3月1日", "2024.3.1"],  # its parent comes later
        ["G2", "第二党总支", "党总支", "C", 45000, "2023-1"],
        ["G2B1X", "第一党小组(二总支)", "党小组", "G2B1", None, None],
        ["B1", "第一党支部", "党支部", "第一党总支", None, "2024-01-01"],  # already in the tree, the same
        ["B2", "第二支部(改名)", "党支部", "G", None, "2024-01-01"],  # already in the tree, other name
    ])
    before = state()
    token, result = preview(data, admin)
    assert result.ok, result.errors
    assert [(r.row, r.code, r.kind, r.parent) for r in result.to_create] == [
        (3, "G2B1", "党支部", "第二党总支"), (4, "G2", "党总支", "测试党委"), (5, "G2B1X", "党小组", "第二总支第一支部")]
    assert [r.code for r in result.same] == ["B1"]
    [d] = result.differs
    assert (d.row, d.code) == (7, "B2")
    assert [(x.column, x.on_roll, x.in_file) for x in d.differences] == [("党组织名称", "第二党支部", "第二支部(改名)")]
    assert state() == before  # nothing saved by the preview
    done = unit_import.confirm_units(token, actor=admin, seen=result.fingerprint)
    assert done.ok and done.created == 3
    g2 = Unit.objects.get(code="G2")
    assert (g2.parent, g2.founded_on, g2.term_start) == (tree["committee"], dt.date(2023, 3, 15), dt.date(2023, 1, 1))
    assert Unit.objects.get(code="G2B1X").parent.code == "G2B1"
    assert Unit.objects.get(code="G2B1").path.startswith(g2.path)
    assert Unit.objects.get(code="B2").name == "第二党支部"  # never changed by a file
    assert [e.action for e in LedgerEntry.objects.order_by("-seq")[:3]] == ["unit.create"] * 3
    assert ledger.verify().ok


@pytest.mark.parametrize(("row", "column", "reason"), [
    (["", "无编码", "党支部", "C", None, None], "党组织编码", "组织编码不能为空"),
    (["X1", "", "党支部", "C", None, None], "党组织名称", "组织名称不能为空"),
    (["X1", "某组织", "协会", "C", None, None], "组织类型", "组织类别“协会”无效"),
    (["X1", "某组织", "党支部", "NOPE", None, None], "上级党组织", "找不到编码或名称为“NOPE”的上级组织"),
    (["X1", "某组织", "党小组", "C", None, None], "上级党组织", "党小组不能设在“党委(基层委员会)”之下"),
    (["X1", "某组织", "党支部", "C", "2999-01-01", None], "成立时间", "成立时间不能晚于今天"),
    (["X1", "某组织", "党支部", "C", None, "2024年13月"], "换届时间", "无法识别"),
    (["B1G1", "某组织", "党小组", "B1", None, None], "党组织编码", None),  # in the tree with another kind: differs, not error
])
def test_each_error_names_the_files_row_and_header_and_nothing_is_saved(tree, admin, row, column, reason):
    before = state()
    token, result = preview(sheet([["OK1", "好组织", "党支部", "C", None, None], row]), admin)
    if reason is None:
        assert result.ok and result.differs[0].code == "B1G1"
        return
    assert [(e.row, e.column) for e in result.errors] == [(4, column)], result.errors
    assert reason in result.errors[0].reason
    assert unit_import.confirm_units(token, actor=admin, seen=result.fingerprint).created == 0
    assert state() == before


def test_a_cycle_and_a_child_of_a_bad_row_are_refused(tree, admin):
    _token, result = preview(sheet([["A1", "甲", "党总支", "A2", None, None], ["A2", "乙", "党总支", "A1", None, None]]), admin)
    assert not result.ok
    _token, result = preview(sheet([["P1", "坏", "协会", "C", None, None], ["P2", "子", "党支部", "P1", None, None]]), admin)
    assert {e.row for e in result.errors} == {3, 4}


def test_a_secretary_creates_groups_under_their_branch_only(tree, secretary):
    _token, result = preview(sheet([["B1G9", "新小组", "党小组", "第一党支部", None, None],
                                    ["B2G9", "别人的小组", "党小组", "B2", None, None],
                                    ["ROOT", "顶层党委", "党委", "", None, None]]), secretary)
    reasons = {e.row: e.reason for e in result.errors}
    assert reasons[4] == "找不到编码或名称为“B2”的上级组织,或该组织不在您的管理范围内"
    assert "上级组织不能为空" in reasons[5]
    assert "第二党支部" not in " ".join(reasons.values())
    _token, result = preview(sheet([["B1G9", "新小组", "党小组", "第一党支部", None, None]]), secretary)
    assert unit_import.confirm_units(_token, actor=secretary, seen=result.fingerprint).created == 1


def test_stale_preview_and_another_users_token_are_refused(tree, admin, secretary):
    token, result = preview(sheet([["B1G9", "新小组", "党小组", "B1", None, None]]), admin)
    with pytest.raises(roster.PendingGone):
        unit_import.confirm_units(token, actor=secretary, seen=result.fingerprint)
    factories.unit("B1G9", "group", parent=tree["b1"], name="别处建的小组")
    before = state()
    again = unit_import.confirm_units(token, actor=admin, seen=result.fingerprint)
    assert again.created == 0 and "预览已不准确" in again.notice and state() == before
    assert [d.code for d in again.differs] == ["B1G9"]


def test_the_pages(client, tree, admin):
    client.force_login(admin)
    data = sheet([["G3", "第三党总支", "党总支", "测试党委", None, None]])
    body, token, seen = upload_page(client, "units_import", data, "组织.xlsx")
    assert "组织架构导入预览" in body and "第三党总支" in body and "现在还没有保存任何数据" in body
    r = client.post(reverse("units_import_confirm"), {"token": token, "seen": seen})
    assert r["Location"] == reverse("unit_tree") and Unit.objects.filter(code="G3").exists()
    client.force_login(account(tree["m1"][3], "plain"))
    assert client.get(reverse("units_import")).status_code == 403
