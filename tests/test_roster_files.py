"""Roster files as offices keep them (issue 25): each kind of file in tests/fixtures/rosters/
imports exactly what a person reading it expects; bad files are refused in Chinese, nothing saved."""
from __future__ import annotations

import datetime as dt
import io
import re
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse
from openpyxl import Workbook, load_workbook

from qms import roster, roster_files
from qms.models import LedgerEntry, Member
from tests import factories
from tests import imports_support as support

pytestmark = pytest.mark.django_db
admin, secretary = support.admin, support.secretary  # the fixtures
FIXTURES = Path(__file__).resolve().parent / "fixtures" / "rosters"
D = dt.date

# what a reader of the office files sees: 身份证号 → (name, gender, birth, joined, full, category, unit, group, phone)
EXPECTED = {
    "11010119850302018X": ("王芳", "F", D(1985, 3, 2), D(2010, 7, 1), D(2011, 7, 1), "full", "B1", "B1G1", "13900011112"),
    "110101199005170219": ("李明", "M", D(1990, 5, 17), D(2015, 7, 1), D(2016, 7, 1), "full", "B1", None, "13800000002"),
    "110101199510080214": ("赵强", "M", D(1995, 10, 8), D(2025, 7, 1), None, "probationary", "B1", None, ""),
    "11010119831224018X": ("陈静", "F", D(1983, 12, 24), D(2012, 6, 1), D(2013, 6, 1), "full", "B2", None, "010-12345678"),
    "110101198801200218": ("刘洋", "M", D(1988, 1, 20), None, None, "candidate", "B2", None, ""),
}
OFFICE_FILES = ["office-2sheets.xlsx", "office-2sheets-libreoffice.xlsx", "office-2sheets.xls", "wps-xls-inside.et",
                "wps-xlsx-inside.et", "office-gbk.csv", "office-utf8.csv", "office-utf8-bom.csv",
                "office-2sheets-1904.xlsx", "office-2sheets-1904.xls"]


def upload(name: str, data: bytes | None = None) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, (FIXTURES / name).read_bytes() if data is None else data)


def counts():
    return Member.objects.count(), LedgerEntry.objects.count()


def imported() -> dict[str, tuple]:
    out = {}
    for m in Member.objects.filter(id_number__in=EXPECTED):
        ms = m.current_membership()
        out[m.id_number] = (m.name, m.gender, m.birth_date, m.joined_on, m.full_on, m.category, ms.unit.code,
                            ms.group.code if ms.group else None, m.phone)
    return out


@pytest.mark.parametrize("name", OFFICE_FILES)
def test_each_kind_of_office_file_imports_what_its_reader_sees(tree, admin, name):
    result = roster.import_roster(upload(name), actor=admin)
    assert result.errors == [] and result.created == 5
    assert imported() == EXPECTED
    assert {m.ethnicity for m in Member.objects.filter(id_number__in=EXPECTED)} == {"汉族", "回族", "满族"}
    again = roster.import_roster(upload(name), actor=admin)
    assert again.ok and again.created == 0 and again.unchanged == 5


def test_errors_keep_the_files_own_sheet_row_and_header(tree, admin):
    wb = load_workbook(FIXTURES / "office-2sheets.xlsx")
    wb["第二党支部"]["I5"] = "2019年13月1日"  # 刘洋 is a 发展对象: the date is still read, and wrong
    wb["第一党支部"]["K6"] = "第九党支部"
    buf = io.BytesIO()
    wb.save(buf)
    before = counts()
    result = roster.import_roster(upload("x.xlsx", buf.getvalue()), actor=admin)
    assert counts() == before
    got = {(e.sheet, e.row, e.column): e.reason for e in result.errors}
    assert set(got) == {("第一党支部", 6, "所在支部"), ("第二党支部", 5, "入党时间")}
    assert "找不到编码或名称为“第九党支部”的党组织" in got[("第一党支部", 6, "所在支部")]
    assert "无法识别" in got[("第二党支部", 5, "入党时间")]


def test_errors_in_a_csv_name_its_lines(tree, admin):
    text = (FIXTURES / "office-gbk.csv").read_bytes().decode("gbk").replace("男性", "未知", 1)
    result = roster.import_roster(upload("x.csv", text.encode("gbk")), actor=admin)
    assert [(e.sheet, e.row, e.column) for e in result.errors] == [("", 4, "性别")]


def test_the_same_id_written_two_ways_is_one_person_twice(tree, admin):
    before = counts()
    result = roster.import_roster(upload("same-id-written-twice.csv"), actor=admin)
    assert [(e.row, e.column) for e in result.errors] == [(3, "身份证号")]
    assert result.errors[0].reason == ("身份证号与第 2 行重复(写法不同:“11010119850302018X”与“１１０１０１１９８５０３０２０１８x”,"
                                       "是同一个号码)")
    assert counts() == before


@pytest.mark.parametrize(("name", "reason"), [
    ("password-123456.xlsx", "文件设有打开密码"),
    ("password-123456.xls", "文件设有打开密码"),
    ("corrupt.xls", "文件已损坏"),
    ("formulas-only.xlsx", "文件中只有公式,没有保存计算结果"),
])
def test_unreadable_files_are_refused_in_chinese_and_nothing_is_saved(client, tree, admin, name, reason):
    before = counts()
    result = roster.import_roster(upload(name), actor=admin)
    assert [(e.row, e.column) for e in result.errors] == [(0, "文件")] and reason in result.errors[0].reason
    client.force_login(admin)
    r = client.post(reverse("roster_import"), {"file": upload(name)}, follow=True)
    assert r.status_code == 200 and reason in r.content.decode() and "未保存任何数据" in r.content.decode()
    assert counts() == before


def test_a_unit_name_matching_two_units_names_the_candidates_the_importer_may_see(tree, admin):
    factories.unit("B9", "branch", parent=tree["committee"], name="第一党支部")
    result = roster.import_roster(upload("office-utf8.csv"), actor=admin)
    reasons = {e.row: e.reason for e in result.errors}
    assert set(reasons) == {3, 4}  # 王芳 and 李明 name their unit; 赵强 gives the code B1
    assert reasons[3] == "党组织名称“第一党支部”对应 2 个组织:第一党支部(编码 B1)、第一党支部(编码 B9);请改填组织编码"


def test_a_secretary_sees_only_their_own_unit_of_that_name(tree, secretary):
    other = factories.unit("B9", "branch", parent=tree["committee"], name="第一党支部")
    wb = load_workbook(FIXTURES / "office-2sheets.xlsx")
    del wb["第二党支部"]
    buf = io.BytesIO()
    wb.save(buf)
    result = roster.import_roster(upload("b1.xlsx", buf.getvalue()), actor=secretary)
    assert result.ok and result.created == 3
    assert not Member.objects.filter(memberships__unit=other).exists()


def sheet(*rows) -> SimpleUploadedFile:
    wb = Workbook()
    for r in rows:
        wb.active.append(list(r))
    buf = io.BytesIO()
    wb.save(buf)
    return upload("t.xlsx", buf.getvalue())


HEAD = ["姓名", "性别", "身份证号码", "人员类别", "入党日期", "转正日期", "党组织编码"]


def test_repeated_headers_numbered_empty_lines_and_totals_are_not_people(tree, admin):
    idn = factories.id_number()
    result = roster.import_roster(sheet(
        ["花名册"], ["序号", *HEAD],
        [1, "甲", "男", idn, "正式党员", "2010-07-01", "2011-07-01", "B1"],
        ["序号", *HEAD],  # the header again at the top of the second printed page
        [2], [3],  # numbered lines left empty
        ["合计:1人"],
    ), actor=admin)
    assert result.ok and result.created == 1


def test_a_sheet_that_looks_like_a_roster_but_lacks_a_column_is_an_error(tree, admin):
    result = roster.import_roster(sheet(["标题"], ["姓名", "性别", "身份证号码", "入党日期"], ["甲", "男", factories.id_number()]), actor=admin)
    assert result.errors[0].reason.startswith("缺少必需的列:人员类别、所在党组织编码(第 2 行像是表头")


def test_a_header_below_the_first_rows_is_not_searched(tree, admin):
    rows = [[f"标题{i}"] for i in range(10)] + [HEAD, ["甲", "男", factories.id_number(), "正式党员", "2010-07-01", "2011-07-01", "B1"]]
    assert "前 10 行中都找不到表头" in roster.import_roster(sheet(*rows), actor=admin).errors[0].reason


def test_an_id_number_excel_stored_as_a_number_is_named(tree, admin):
    result = roster.import_roster(sheet(HEAD, ["甲", "男", 110101198503020219.0, "正式党员", "2010-07-01", "2011-07-01", "B1"]), actor=admin)
    assert [e.column for e in result.errors] == ["身份证号码"] and "存成了数字" in result.errors[0].reason


# ---------------------------------------------------------------------- values, one by one


@pytest.mark.parametrize(("value", "expected"), [
    (43647, D(2019, 7, 1)),  # an Excel serial number in a cell without a date style
    (43647.0, D(2019, 7, 1)),  # the same from an .xls
    ("43647", D(2019, 7, 1)),  # and exported to CSV
    ("2019年7月1日", D(2019, 7, 1)),
    ("2019 年 7 月 1 日", D(2019, 7, 1)),
    ("2019.7.1", D(2019, 7, 1)),
    ("2019/07/01", D(2019, 7, 1)),
    ("2019-07-01", D(2019, 7, 1)),
    ("2019-07-01 00:00:00", D(2019, 7, 1)),
    ("20190701", D(2019, 7, 1)),
    (20190701, D(2019, 7, 1)),
    ("2019-7", D(2019, 7, 1)),  # a month alone: the first of the month
    ("2019年7月", D(2019, 7, 1)),
    ("2019.07", D(2019, 7, 1)),
    ("２０１９年７月１日", D(2019, 7, 1)),  # full-width digits
    (dt.datetime(2019, 7, 1, 8, 30), D(2019, 7, 1)),
    (None, None), ("", None),
])
def test_dates_as_offices_write_them(value, expected):
    assert roster._date(value) == expected


@pytest.mark.parametrize("value", ["2019-13-01", "2019年2月30日", "去年", "2019", "1/7/2019"])
def test_unreadable_dates_are_refused(value):
    with pytest.raises(ValueError, match="无法识别"):
        roster._date(value)


@pytest.mark.parametrize(("value", "expected"), [
    ("王　芳　", "王芳"), ("李  明 ", "李明"), (" 张三\u3000", "张三"), ("阿依古丽·买买提", "阿依古丽·买买提"),
    ("John  Smith ", "John Smith"),
])
def test_names_lose_aligning_and_trailing_spaces(value, expected):
    assert roster._name(value) == expected


@pytest.mark.parametrize(("value", "expected"), [
    ("11010119850302018x", "11010119850302018X"), ("１１０１０１１９８５０３０２０１８ｘ", "11010119850302018X"),
    (" 110101 19850302 018X ", "11010119850302018X"),
])
def test_id_numbers_are_read_upper_case_and_half_width(value, expected):
    assert roster._id_number(value) == expected


@pytest.mark.parametrize(("value", "expected"), [("男性", "男"), ("女性", "女"), ("男", "男"), ("女 ", "女")])
def test_gender_words(value, expected):
    assert roster._choice("gender", value) == expected


def test_full_width_digits_in_a_phone_number(tree, admin):
    row = ["甲", "男", factories.id_number(), "正式党员", "2010-07-01", "2011-07-01", "B1", "１３８ ００１３ ８０００"]
    assert roster.import_roster(sheet([*HEAD, "手机"], row), actor=admin).ok
    assert Member.objects.get(name="甲").phone == "13800138000"


# ---------------------------------------------------------------------------- the page


def test_the_page_takes_an_xls_and_names_sheets_in_errors(client, tree, admin):
    client.force_login(admin)
    wb = load_workbook(FIXTURES / "office-2sheets.xlsx")
    wb["第二党支部"]["C4"] = "不男不女"
    buf = io.BytesIO()
    wb.save(buf)
    body = client.post(reverse("roster_import"), {"file": upload("y.xlsx", buf.getvalue())}, follow=True).content.decode()
    assert "<th>工作表</th>" in body and "<td>第二党支部</td><td>4</td><td>性别</td>" in body
    body = client.post(reverse("roster_import"), {"file": upload("office-2sheets.xls")}, follow=True).content.decode()
    assert "新建 <strong>5</strong> 人" in body and imported() == {}
    token = re.search(r'name="token" value="([^"]+)"', body)[1]
    seen = re.search(r'name="seen" value="([0-9a-f]+)"', body)[1]
    body = client.post(reverse("roster_confirm"), {"token": token, "seen": seen}, follow=True).content.decode()
    assert "新建 5 人" in body and imported() == EXPECTED


def test_the_filled_template_with_its_guide_sheet_still_imports(tree, admin):
    wb = load_workbook(io.BytesIO(roster.template_bytes()))
    ws = wb["花名册"]
    for cell, value in zip(ws[2], ["模板人", "男", factories.id_number(), "1980-05-17", "汉族", "本科", "13800000000",
                                   "正式党员", "2005-07-01", "2006-07-01", "第一党支部", "", "2024-01-01"], strict=True):
        cell.value = value
    buf = io.BytesIO()
    wb.save(buf)
    result = roster.import_roster(upload("t.xlsx", buf.getvalue()), actor=admin)
    assert result.ok and result.created == 1  # the 填写说明 sheet is not read as people


def test_damaged_files_of_every_kind_never_raise(tree, admin):
    """Bytes flipped at random in each kind of file: an error in Chinese or an import, never a 500."""
    import random
    import zipfile

    rnd = random.Random(25)
    sources = [(FIXTURES / n).read_bytes() for n in ("office-2sheets.xlsx", "office-2sheets.xls", "office-gbk.csv")]
    cut = io.BytesIO()  # a sound zip whose sheet XML stops half-way
    with zipfile.ZipFile(FIXTURES / "office-2sheets.xlsx") as zin, zipfile.ZipFile(cut, "w") as zout:
        for info in zin.infolist():
            data = zin.read(info)
            zout.writestr(info, data[: len(data) // 2] if info.filename.endswith("sheet1.xml") else data)
    sources.append(cut.getvalue())
    for _ in range(60):
        data = bytearray(rnd.choice(sources))
        for _ in range(rnd.randint(0, 20)):
            data[rnd.randrange(len(data))] = rnd.randrange(256)
        result = roster.validate_roster(upload("x", bytes(data)), actor=admin)
        assert all(e.reason for e in result.errors)


@pytest.mark.parametrize(("value", "expected"), [("正式", "正式党员"), ("预备", "预备党员"), ("积极分子", "入党积极分子"),
                                                 ("正式党员", "正式党员")])
def test_category_words(value, expected):
    assert roster._choice("category", value) == expected


@pytest.mark.parametrize(("header", "field"), [
    ("*姓名", "name"), ("身份证号码(必填)", "id_number"), ("身份证号码（18位）", "id_number"), ("入党\n时间", "joined_on"),
    ("转 正 时 间", "full_on"), ("所在党支部", "unit"), ("联系电话", "phone"), ("党组织名称", "unit"),
])
def test_header_wordings(header, field):
    from qms import roster_files

    assert roster_files.rules().by_key[roster_files.header_key(header)] == field


def csv_upload(text: str, encoding: str) -> SimpleUploadedFile:
    return upload("x.csv", text.encode(encoding))


def test_a_gb18030_csv_with_a_name_outside_gbk(tree, admin):
    text = "姓名,性别,身份证号,人员类别,入党日期,转正日期,所在党组织编码\r\n刘䶮,男,110101198801200218,正式党员,2010-07-01,2011-07-01,B1\r\n"
    with pytest.raises(UnicodeEncodeError):
        text.encode("gbk")
    assert roster.import_roster(csv_upload(text, "gb18030"), actor=admin).ok
    assert Member.objects.filter(name="刘䶮").exists()


def test_a_unicode_text_export_utf16_with_tabs(tree, admin):
    text = "姓名\t性别\t身份证号\t人员类别\t入党日期\t转正日期\t所在党组织编码\r\n甲\t男\t110101198801200218\t正式\t2010-07-01\t2011-07-01\tB1\r\n"
    result = roster.import_roster(csv_upload(text, "utf-16"), actor=admin)
    assert result.ok and Member.objects.get(name="甲").category == "full"


def test_a_formula_without_its_result_and_an_error_value_are_named_by_cell(tree, admin):
    wb = Workbook()
    ws = wb.active
    ws.append([*HEAD, "出生日期"])
    ws.append(["甲", "男", factories.id_number(), "正式党员", "2010-07-01", "2011-07-01", "B1", "=DATE(1980,5,17)"])
    ws.append(["乙", "男", factories.id_number(), "正式党员", "#N/A", "2011-07-01", "B1", None])
    buf = io.BytesIO()
    wb.save(buf)
    result = roster.import_roster(upload("f.xlsx", buf.getvalue()), actor=admin)
    got = {(e.row, e.column): e.reason for e in result.errors}
    assert set(got) == {(2, "出生日期"), (3, "入党日期")}
    assert "公式(=DATE(1980,5,17)),文件中没有保存计算结果" in got[(2, "出生日期")]
    assert "错误值 #N/A" in got[(3, "入党日期")]


@pytest.mark.parametrize("kind", ["xlsx", "csv"])
def test_a_very_large_sheet_is_refused_while_it_is_read(tree, admin, monkeypatch, kind):
    from qms import roster_files

    monkeypatch.setattr(roster, "max_rows", lambda: 3)
    read = []
    real = roster_files._Cap.row
    monkeypatch.setattr(roster_files._Cap, "row", lambda self, row: read.append(1) or real(self, row))
    rows = [HEAD] + [[f"人{i}", "男", factories.id_number(), "正式党员", "2010-07-01", "2011-07-01", "B1"] for i in range(400)]
    if kind == "csv":
        data = upload("big.csv", "\r\n".join(",".join(r) for r in rows).encode("gbk"))
    else:
        data = sheet(*rows)
    result = roster.import_roster(data, actor=admin)
    assert [e.reason for e in result.errors] == ["数据行超过 3 行,请分批导入"]
    assert len(read) < 120  # stopped reading, not read all 401 rows first


def test_the_row_limit_is_a_deployments_setting(tree, admin, tmp_path):
    from django.test import override_settings

    path = tmp_path / "limits.toml"
    path.write_text("[roster]\nmax_rows = 4\n", encoding="utf-8")
    with override_settings(QMS_LIMITS_FILE=str(path)):
        assert roster.max_rows() == 4
        result = roster.import_roster(upload("office-utf8.csv"), actor=admin)
    assert [e.reason for e in result.errors] == ["数据行超过 4 行,请分批导入"]
    assert roster.max_rows() == 5000


def test_unstyled_serials_follow_the_workbooks_date_system():
    """29646 is 1985-03-02 counted from 1904 (a workbook set to the 1904 system), 1981-03-01 from 1900."""
    assert roster._date(29646, date1904=True) == D(1985, 3, 2)
    assert roster._date(29646) == D(1981, 3, 1)
    assert roster._date("29646", date1904=True) == D(1981, 3, 1)  # text in a CSV: no workbook, the 1900 count
    rows = roster_files.read_rows((FIXTURES / "office-2sheets-1904.xls").read_bytes(), max_rows=10)
    assert {r.date1904 for r in rows} == {True}
    rows = roster_files.read_rows((FIXTURES / "office-2sheets.xlsx").read_bytes(), max_rows=10)
    assert {r.date1904 for r in rows} == {False}
