"""Excel roster import: all or nothing, every error kind named, idempotent (issue 2 §4)."""
from __future__ import annotations

import datetime as dt
import io
import re

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import override_settings
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from qms import ledger, roster, services
from qms.models import LedgerEntry, Member, Role
from tests import factories

pytestmark = pytest.mark.django_db
HEAD = roster.HEADERS


def row(name="李明", gender="男", idn=None, birth="1985-03-02", cat="正式党员", joined="2010-07-01",
        full="2011-07-01", unit="B1", group="B1G1", start="2024-01-01", **kw):
    values = {"姓名": name, "性别": gender, "身份证号": idn or factories.id_number(), "出生日期": birth, "民族": "汉族",
              "学历": "本科", "手机号": "13900001111", "人员类别": cat, "入党日期": joined, "转正日期": full,
              "所在党组织编码": unit, "党小组编码": group, "加入日期": start}
    values.update(kw)
    return [values[h] for h in HEAD]


def xlsx(rows, header=HEAD) -> io.BytesIO:
    wb = Workbook()
    ws = wb.active
    ws.append(header)
    for r in rows:
        ws.append(r)
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    return buf


@pytest.fixture
def admin(tree):
    u = factories.user("adm")
    services.role_grant(actor=None, user=u, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    return u


@pytest.fixture
def secretary(tree):
    u = factories.user("sec1")
    services.member_update(tree["m1"][0], actor=None, reason="开通账号", user=u)
    services.position_assign(actor=None, member=tree["m1"][0], unit=tree["b1"], title="secretary", start=dt.date(2024, 1, 1))
    return u


def counts():
    return Member.objects.count(), LedgerEntry.objects.count()


def test_good_file_imports_everyone_and_reimport_changes_nothing(tree, admin):
    rows = [row(name=f"导入{i}", unit="B1" if i % 2 else "B2", group="B1G1" if i % 2 else "") for i in range(6)]
    before = counts()
    result = roster.import_roster(xlsx(rows), actor=admin)
    assert result.ok and result.created == 6 and result.unchanged == 0
    assert Member.objects.count() == before[0] + 6
    m = Member.objects.get(name="导入1")
    ms = m.current_membership()
    assert (ms.unit.code, ms.group.code, ms.start) == ("B1", "B1G1", dt.date(2024, 1, 1))
    assert [e.action for e in ledger.history(m)] == ["member.enroll"]
    mid = counts()
    again = roster.import_roster(xlsx(rows), actor=admin)
    assert again.ok and again.created == 0 and again.unchanged == 6
    assert counts() == mid
    assert ledger.verify().ok


def test_excel_dates_and_text_dates_both_work(tree, admin):
    r = row(birth=dt.datetime(1985, 3, 2), joined="2010/07/01", full=dt.date(2011, 7, 1))
    assert roster.import_roster(xlsx([r]), actor=admin).created == 1


@pytest.mark.parametrize(("change", "column", "reason"), [
    ({"name": ""}, "姓名", "姓名不能为空"),
    ({"gender": "未知"}, "性别", "性别“未知”无效"),
    ({"idn": "110101198503020000"}, "身份证号", "校验位"),
    ({"idn": "12345"}, "身份证号", "18位"),
    ({"birth": "1985-13-45"}, "出生日期", "无法识别"),
    ({"joined": "2999-01-01"}, "入党日期", "不能晚于今天"),
    ({"cat": "群众"}, "人员类别", "人员类别“群众”无效"),
    ({"full": ""}, "转正日期", "正式党员必须填写转正日期"),
    ({"unit": "NOPE"}, "所在党组织编码", "找不到编码或名称为“NOPE”的党组织"),
    ({"unit": "G", "group": ""}, "所在党组织编码", "党员只能编入党支部"),
    ({"unit": "B2", "group": "B1G1"}, "党小组编码", "不是“第二党支部”下的党小组"),
    ({"unit": ""}, "所在党组织编码", "不能为空"),
])
def test_each_row_error_is_named_and_nothing_is_saved(tree, admin, change, column, reason):
    good = row(name="好人")
    bad = row(**change)
    before = counts()
    result = roster.import_roster(xlsx([good, bad]), actor=admin)
    assert not result.ok and result.created == 0
    assert any(e.row == 3 and e.column == column and reason in e.reason for e in result.errors), result.errors
    assert counts() == before


def test_duplicate_id_within_file_names_both_rows(tree, admin):
    idn = factories.id_number()
    result = roster.import_roster(xlsx([row(idn=idn), row(name="另一人", idn=idn)]), actor=admin)
    assert [(e.row, e.column) for e in result.errors] == [(3, "身份证号")]
    assert "第 2 行" in result.errors[0].reason


def test_person_already_in_another_unit_is_refused(tree, admin):
    existing = tree["m2"][0]
    r = row(name=existing.name, idn=existing.id_number, unit="B1")
    result = roster.import_roster(xlsx([r]), actor=admin)
    assert "已在“第二党支部”在册" in result.errors[0].reason


def test_a_person_or_unit_outside_the_importers_scope_is_never_named(tree, secretary):
    """A secretary of 第一党支部 imports a row carrying the 身份证号 of a member of 第二党支部, the
    code of 第二党支部 and of a 党小组 outside the branch: the errors say what is wrong without
    naming the person or the units (a name is shown only inside one's scope: qms/scoping.py)."""
    other = tree["m2"][0]
    outside_group = factories.unit("B2G1", "group", parent=tree["b2"], name="第二支部第一小组")
    before = counts()
    result = roster.import_roster(xlsx([
        row(name="冒名", idn=other.id_number, unit="B1"),
        row(unit="B2", group=""),
        row(unit="B1", group="B2G1"),
    ]), actor=secretary)
    assert not result.ok and counts() == before
    reasons = {e.row: e.reason for e in result.errors}
    assert reasons[2] == "该身份证号已在其他组织在册,请联系上级组织"
    assert reasons[3] == "找不到编码或名称为“B2”的党组织,或该组织不在您的管理范围内"
    assert reasons[4] == "找不到编码或名称为“B2G1”的党小组,或该党小组不在您的管理范围内"
    text = " ".join(e.reason for e in result.errors)
    assert other.name not in text and tree["b2"].name not in text and outside_group.name not in text


def test_a_former_member_outside_the_importers_scope_is_not_described(tree, secretary):
    gone = tree["m2"][1]
    services.member_transfer(gone, actor=None, to_unit=None, date=dt.date(2025, 1, 1), note="转出本单位")
    result = roster.import_roster(xlsx([row(name="冒名", idn=gone.id_number, unit="B1")]), actor=secretary)
    assert [e.reason for e in result.errors] == ["该身份证号已有其他组织的人员档案,请联系上级组织办理组织关系转接"]


def test_changed_data_for_a_member_is_not_silently_edited(tree, admin):
    rows = [row(name="王强")]
    roster.import_roster(xlsx(rows), actor=admin)
    rows[0][HEAD.index("手机号")] = "13000000000"
    before = counts()
    result = roster.import_roster(xlsx(rows), actor=admin)
    assert result.ok and result.created == 0 and result.unchanged == 0
    [d] = result.differs
    assert (d.row, d.name) == (2, "王强")
    assert [(x.column, x.on_roll, x.in_file) for x in d.differences] == [("手机号", "13900001111", "13000000000")]
    assert Member.objects.get(name="王强").phone == "13900001111" and counts() == before


def test_secretary_cannot_import_into_a_sibling_branch(tree, secretary):
    before = counts()
    result = roster.import_roster(xlsx([row(unit="B1"), row(unit="B2", group="")]), actor=secretary)
    assert [(e.row, e.column) for e in result.errors] == [(3, "所在党组织编码")]
    assert "不在您的管理范围内" in result.errors[0].reason
    assert counts() == before


@pytest.mark.parametrize(("data", "reason"), [
    (b"\x00\x01binary, not a table", "不是 Excel"),
    (b"just a line of text, not a roster", "找不到表头"),
    (b"", "文件是空的"),
    (b"PK\x03\x04broken zip", "已损坏"),
])
def test_bad_files_are_refused(tree, admin, data, reason):
    result = roster.import_roster(io.BytesIO(data), actor=admin)
    assert result.errors[0].column == "文件" and reason in result.errors[0].reason


def test_missing_header_and_empty_sheet(tree, admin):
    result = roster.import_roster(xlsx([row()], header=[h for h in HEAD if h != "身份证号"]), actor=admin)
    assert "缺少必需的列:身份证号" in result.errors[0].reason
    result = roster.import_roster(xlsx([]), actor=admin)
    assert "没有数据行" in result.errors[0].reason
    wb = Workbook()
    buf = io.BytesIO()
    wb.save(buf)
    buf.seek(0)
    assert "空的" in roster.import_roster(buf, actor=admin).errors[0].reason


@override_settings(QMS_MAX_UPLOAD_BYTES=2000)
def test_oversize_file_is_refused(tree, admin):
    result = roster.import_roster(xlsx([row(name=f"人{i}") for i in range(50)]), actor=admin)
    assert "文件过大" in result.errors[0].reason


def test_too_many_rows(tree, admin, monkeypatch):
    monkeypatch.setattr(roster, "max_rows", lambda: 3)
    result = roster.import_roster(xlsx([row(name=f"人{i}") for i in range(4)]), actor=admin)
    assert "超过 3 行" in result.errors[0].reason


# --------------------------------------------------------------------------------- views


def test_template_download_has_the_header_and_a_guide(client, tree, admin):
    client.force_login(admin)
    r = client.get(reverse("roster_template"))
    assert r["Content-Type"] == roster.XLSX_MIME
    wb = load_workbook(io.BytesIO(r.content))
    assert [c.value for c in wb.worksheets[0][1]] == HEAD
    assert wb.sheetnames == ["花名册", "填写说明"]


def _upload(client, data: bytes):
    return client.post(reverse("roster_import"), {"file": SimpleUploadedFile("r.xlsx", data, content_type=roster.XLSX_MIME)})


def test_import_page_previews_then_confirms(client, tree, admin):
    client.force_login(admin)
    r = _upload(client, xlsx([row(gender="X")]).getvalue())
    assert r.status_code == 302
    body = client.get(r["Location"]).content.decode()
    assert "不能导入" in body and "性别“X”无效" in body and "<td>2</td>" in body and "confirm-import" not in body
    before = counts()
    r = _upload(client, xlsx([row(name="页面导入")]).getvalue())
    body = client.get(r["Location"]).content.decode()
    assert "页面导入" in body and "确认导入(新建 1 人)" in body and counts() == before
    token = r["Location"].rstrip("/").rsplit("/", 1)[1]
    seen = re.search(r'name="seen" value="([0-9a-f]+)"', body)[1]
    r = client.post(reverse("roster_confirm"), {"token": token, "seen": seen})
    assert r.status_code == 302 and r["Location"] == reverse("member_list")
    assert "新建 1 人" in client.get(r["Location"]).content.decode()
    assert Member.objects.filter(name="页面导入").exists()


def test_import_page_needs_a_managing_scope(client, tree):
    plain = factories.user("plain")
    services.member_update(tree["m1"][1], actor=None, reason="开通账号", user=plain)
    client.force_login(plain)
    assert client.get(reverse("roster_import")).status_code == 403
