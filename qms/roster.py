"""花名册导入 — the Excel roster import: every row validated first, then all or nothing.

A party office keeps its roster in Excel; this brings it in without half-saving anything.
Rows are checked against the same rules as the enrolment form (``services``), against the
importer's scope, and against each other (no 身份证号 twice). Only a file with no error at
all is imported, in one transaction, through ``services.member_enroll`` so every row gets its
ledger entries. A row that is already on the roll with the same data is "unchanged"
(re-importing a file changes nothing); one with different data is an error: corrections go
through the amendment page, with a reason, never silently.
"""
from __future__ import annotations

import datetime as dt
import io
import zipfile
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from openpyxl.worksheet.datavalidation import DataValidation

from qms import archives, services
from qms.models import BRANCH_KINDS, Gender, Member, MemberCategory, Membership, Unit, UnitKind
from qms.permissions import act, managed_unit
from qms.scoping import can_manage, can_see

#: (header, field, required) in template order
COLUMNS: list[tuple[str, str, bool]] = [
    ("姓名", "name", True),
    ("性别", "gender", True),
    ("身份证号", "id_number", True),
    ("出生日期", "birth_date", False),
    ("民族", "ethnicity", False),
    ("学历", "education", False),
    ("手机号", "phone", False),
    ("人员类别", "category", True),
    ("入党日期", "joined_on", False),
    ("转正日期", "full_on", False),
    ("所在党组织编码", "unit", True),
    ("党小组编码", "group", False),
    ("加入日期", "start", False),
]
HEADERS = [c[0] for c in COLUMNS]
HEADER_OF = {f: h for h, f, _ in COLUMNS}
DATE_FIELDS = ("birth_date", "joined_on", "full_on", "start")
GENDERS = {label: value for value, label in Gender.choices}
CATEGORIES = {str(label): value for value, label in MemberCategory.choices}
MAX_ROWS = 5000
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

GUIDE = [
    ("姓名", "必填。"),
    ("性别", "必填:男 / 女。"),
    ("身份证号", "必填:18位居民身份证号码,末位可为X;同一文件中不得重复。"),
    ("出生日期", "选填:Excel 日期或 YYYY-MM-DD。"),
    ("民族 / 学历 / 手机号", "选填。"),
    ("人员类别", "必填:正式党员 / 预备党员 / 发展对象 / 入党积极分子。"),
    ("入党日期", "党员必填(接收为预备党员的日期),不得晚于今天,入党时应年满十八岁。"),
    ("转正日期", "正式党员必填,不得早于入党日期。"),
    ("所在党组织编码", "必填:党支部(含联合、临时党支部)的组织编码,须在您的管理范围内。"),
    ("党小组编码", "选填:须是该党支部下的党小组。"),
    ("加入日期", "选填:编入该党支部的日期,默认为导入当天。"),
    ("说明", "整个文件校验无误才会导入;任何一行有错,都不会保存任何数据。重复导入同一文件不会产生变化。"),
]


@dataclass(frozen=True)
class RowError:
    """One problem: the Excel row number (as shown in Excel), the column header, the reason."""

    row: int
    column: str
    reason: str


@dataclass
class ImportResult:
    created: int = 0
    unchanged: int = 0
    errors: list[RowError] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class RosterFileError(Exception):
    """The file itself cannot be read (not xlsx, too big, no header …)."""


def template_bytes() -> bytes:
    """The downloadable template: header row, one example row, and a 填写说明 sheet."""
    wb = Workbook()
    ws = wb.active
    ws.title = "花名册"
    ws.append(HEADERS)
    ws.append(["张三", "男", "11010119800517001X", "1980-05-17", "汉族", "本科", "13800000000", "正式党员",
               "2005-07-01", "2006-07-01", "示例支部编码", "", timezone.localdate().isoformat()])
    for i, width in enumerate((10, 6, 22, 12, 8, 8, 14, 12, 12, 12, 16, 14, 12), start=1):
        ws.column_dimensions[ws.cell(row=1, column=i).column_letter].width = width
    dv_gender = DataValidation(type="list", formula1='"男,女"', allow_blank=False)
    dv_cat = DataValidation(type="list", formula1='"正式党员,预备党员,发展对象,入党积极分子"', allow_blank=False)
    ws.add_data_validation(dv_gender)
    ws.add_data_validation(dv_cat)
    dv_gender.add("B2:B5001")
    dv_cat.add("H2:H5001")
    guide = wb.create_sheet("填写说明")
    guide.append(["列", "填写要求"])
    for row in GUIDE:
        guide.append(list(row))
    guide.column_dimensions["A"].width = 22
    guide.column_dimensions["B"].width = 90
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).strip()


def _date(value: Any) -> dt.date | None:
    if value in (None, ""):
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value).replace("/", "-").replace(".", "-")
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        pass
    try:
        return dt.datetime.strptime(text, "%Y-%m-%d").date()
    except ValueError as exc:
        raise ValueError(f"日期“{_text(value)}”无法识别,请用 YYYY-MM-DD 或 Excel 日期") from exc


def _read_rows(fileobj) -> list[tuple[int, dict[str, Any]]]:
    size = getattr(fileobj, "size", None)
    if size is None:
        pos = fileobj.tell()
        fileobj.seek(0, io.SEEK_END)
        size = fileobj.tell() - pos
        fileobj.seek(pos)
    limit = settings.QMS_MAX_UPLOAD_BYTES
    if size > limit:
        raise RosterFileError(f"文件过大({size / 1048576:.1f} MB),上限为 {limit / 1048576:.0f} MB")
    data = fileobj.read()
    if not data.startswith(b"PK"):
        raise RosterFileError("文件不是 Excel(.xlsx)格式,请下载模板填写后上传")
    try:  # an .xlsx is a ZIP archive: checked unpacked, in memory, before openpyxl inflates it
        archives.check_archive(data)
    except ValidationError as exc:
        raise RosterFileError(";".join(exc.messages)) from exc
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, InvalidFileException, KeyError, OSError, ValueError) as exc:
        raise RosterFileError("文件已损坏或不是有效的 Excel(.xlsx)文件") from exc
    ws = wb.worksheets[0]
    rows = ws.iter_rows(values_only=True)
    header = next(rows, None)
    if header is None:
        raise RosterFileError("表格是空的:第一行应为表头")
    names = [_text(h) for h in header]
    missing = [h for h, _, required in COLUMNS if required and h not in names]
    if missing:
        raise RosterFileError(f"缺少必需的列:{'、'.join(missing)}(请使用模板)")
    index = {f: names.index(h) for h, f, _ in COLUMNS if h in names}
    out: list[tuple[int, dict[str, Any]]] = []
    for n, values in enumerate(rows, start=2):
        if values is None or all(v in (None, "") for v in values):
            continue
        if len(out) >= MAX_ROWS:
            raise RosterFileError(f"数据行超过 {MAX_ROWS} 行,请分批导入")
        out.append((n, {f: (values[i] if i < len(values) else None) for f, i in index.items()}))
    wb.close()
    if not out:
        raise RosterFileError("表格中没有数据行")
    return out


def _same(member: Member, fields: dict[str, Any]) -> bool:
    return all((getattr(member, k) or None) == (v or None) for k, v in fields.items())


@act("roster.import", unit=managed_unit)
def validate_roster(fileobj, *, actor) -> tuple[ImportResult, list[dict[str, Any]]]:
    """Check every row; returns the result (errors, unchanged) and the rows to create."""
    result = ImportResult()
    try:
        rows = _read_rows(fileobj)
    except RosterFileError as exc:
        result.errors.append(RowError(0, "文件", str(exc)))
        return result, []
    codes = {_text(r.get(k)) for _, r in rows for k in ("unit", "group")} - {""}
    units = {u.code: u for u in Unit.objects.filter(code__in=codes)}
    ids = {_text(r.get("id_number")).upper() for _, r in rows}
    existing = {m.id_number: m for m in Member.objects.filter(id_number__in=ids)}
    current = {
        ms.member_id: ms for ms in Membership.objects.filter(member__id_number__in=ids, end__isnull=True).select_related("unit")
    }
    last_unit = {ms.member_id: ms.unit for ms in  # where a person no longer on any roster was last
                 Membership.objects.filter(member__id_number__in=ids).select_related("unit").order_by("start", "pk")}
    first_row: dict[str, int] = {}
    today = timezone.localdate()
    to_create: list[dict[str, Any]] = []
    for n, raw in rows:
        errs: list[RowError] = []

        def err(field_name: str, reason: str, n=n, errs=errs) -> None:
            errs.append(RowError(n, HEADER_OF[field_name], reason))

        fields: dict[str, Any] = {
            "name": _text(raw.get("name")),
            "ethnicity": _text(raw.get("ethnicity")),
            "education": _text(raw.get("education")),
            "phone": _text(raw.get("phone")),
            "id_number": _text(raw.get("id_number")).upper(),
        }
        gender = _text(raw.get("gender"))
        fields["gender"] = GENDERS.get(gender, "")
        if gender and not fields["gender"]:
            err("gender", f"性别“{gender}”无效,应为“男”或“女”")
        category = _text(raw.get("category"))
        fields["category"] = CATEGORIES.get(category, "")
        if category and not fields["category"]:
            err("category", f"人员类别“{category}”无效,应为正式党员、预备党员、发展对象或入党积极分子")
        for f in DATE_FIELDS:
            try:
                fields[f] = _date(raw.get(f))
            except ValueError as exc:
                fields[f] = None
                err(f, str(exc))
        for f in ("joined_on", "full_on", "start"):
            if fields.get(f) and fields[f] > today:
                err(f, f"{HEADER_OF[f]}不能晚于今天")
        start = fields.pop("start") or today
        # rules shared with the enrolment form
        already = {e.column for e in errs}
        for f, reason in services.validate_member_fields(fields).items():
            if f in HEADER_OF and HEADER_OF[f] not in already:
                err(f, reason)
        idn = fields["id_number"]
        if idn:
            if idn in first_row:
                err("id_number", f"身份证号与第 {first_row[idn]} 行重复")
            else:
                first_row[idn] = n
        unit_code, group_code = _text(raw.get("unit")), _text(raw.get("group"))
        unit = units.get(unit_code)
        group = None
        # an error names a unit or a person only inside the importer's scope (qms/scoping.py): a code
        # or a 身份证号 from elsewhere is answered like an unknown one, never with a name
        if not unit_code:
            err("unit", "所在党组织编码不能为空")
        elif unit is None or not can_see(actor, unit):
            err("unit", f"找不到组织编码“{unit_code}”,或该组织不在您的管理范围内")
        elif unit.kind not in BRANCH_KINDS:
            err("unit", f"“{unit.name}”是{unit.get_kind_display()},党员只能编入党支部")
        elif not can_manage(actor, unit):
            err("unit", f"“{unit.name}”不在您的管理范围内")
        if group_code and unit is not None:
            group = units.get(group_code)
            if group is None or not can_see(actor, group):
                err("group", f"找不到党小组编码“{group_code}”,或该党小组不在您的管理范围内")
            elif group.kind != UnitKind.GROUP or group.parent_id != unit.pk:
                err("group", f"“{group.name}”不是“{unit.name}”下的党小组")
        member = existing.get(idn)
        if member is not None and not errs:
            ms = current.get(member.pk)
            if ms is None:
                if member.pk in last_unit and can_see(actor, last_unit[member.pk]):
                    err("id_number", f"身份证号 {idn} 的人员已不在册({member.get_status_display()}),请通过组织关系转接办理")
                else:
                    err("id_number", "该身份证号已有其他组织的人员档案,请联系上级组织办理组织关系转接")
            elif ms.unit_id != unit.pk:
                if can_see(actor, ms.unit):
                    err("unit", f"{member.name} 已在“{ms.unit.name}”在册,一人不能同时在两个党组织;如需调整请办理组织关系转接")
                else:
                    err("id_number", "该身份证号已在其他组织在册,请联系上级组织")
            elif not _same(member, fields) or (ms.group_id or None) != (group.pk if group else None):
                err("id_number", f"{member.name} 已在册但信息不同;更正信息请在党员页面“更正信息”中填写原因后保存")
            else:
                result.unchanged += 1
                continue
        if errs:
            result.errors.extend(errs)
            continue
        to_create.append({**fields, "unit": unit, "group": group, "start": start})
    return result, to_create


@act("roster.import", unit=managed_unit)
def import_roster(fileobj, *, actor) -> ImportResult:
    """Validate every row; import all of them or, on any error, nothing."""
    result, to_create = validate_roster(fileobj, actor=actor)
    if not result.ok:
        result.unchanged = 0
        return result
    try:
        with transaction.atomic():
            for row in to_create:
                unit, group, start = row.pop("unit"), row.pop("group"), row.pop("start")
                services.member_enroll(actor=actor, unit=unit, group=group, start=start, **row)
                result.created += 1
    except ValidationError as exc:  # a race with another import: nothing was saved
        result.created = 0
        result.errors.append(RowError(0, "文件", "导入时数据已被他人修改,未保存任何数据,请重新导入:" + ";".join(exc.messages)))
    return result
