"""花名册导入 — the roster import: every row validated first, then all or nothing.

A party office keeps its roster in Excel, WPS or a CSV export; ``qms.roster_files`` reads the
file as its maker laid it out, and this brings it in without half-saving anything. Values
are read as offices write them (``_date``, ``_name``, ``_id_number``, ``_choice``).
Rows are checked against the same rules as the enrolment form (``services``), against the
importer's scope, and against each other (no 身份证号 twice). Only a file with no error at
all is imported, in one transaction, through ``services.member_enroll`` so every row gets its
ledger entries. A row that is already on the roll with the same data is "unchanged"
(re-importing a file changes nothing); one with different data "differs": it is shown side by
side with the roll and left as it is — corrections go through the amendment page, with a
reason, never silently.

The pages import in two steps (``staged_import``): the upload is kept on the server
(``roster_pending``) and previewed (to create / unchanged / differs / errors); confirm reads the
kept file again, checks it against the roll as it is then, and imports only if that still gives
the preview the user saw (its ``fingerprint``).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from openpyxl.worksheet.datavalidation import DataValidation

from qms import exports, ledger, roster_files, roster_pending, services, staged_import
from qms.models import (
    BRANCH_KINDS,
    Gender,
    Member,
    MemberCategory,
    Membership,
    RosterColumnMapping,
    Unit,
    UnitKind,
)
from qms.permissions import act, allowed, managed_unit
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
XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"

GUIDE = [
    ("姓名", "必填。"),
    ("性别", "必填:男 / 女。"),
    ("身份证号", "必填:18位居民身份证号码,末位可为X;同一文件中不得重复。"),
    ("出生日期", "选填:Excel 日期,或 2019-07-01、2019年7月1日、2019.7.1、20190701 等写法。"),
    ("民族 / 学历 / 手机号", "选填。"),
    ("人员类别", "必填:正式党员 / 预备党员 / 发展对象 / 入党积极分子。"),
    ("入党日期", "党员必填(接收为预备党员的日期),不得晚于今天,入党时应年满十八岁。"),
    ("转正日期", "正式党员必填,不得早于入党日期。"),
    ("所在党组织编码", "必填:党支部(含联合、临时党支部)的组织编码或名称,须在您的管理范围内;名称重复时请填编码。"),
    ("党小组编码", "选填:须是该党支部下的党小组。"),
    ("加入日期", "选填:编入该党支部的日期,默认为导入当天。"),
    ("其他文件", "也可直接上传单位现有的花名册(.xlsx、.xls、WPS .et、CSV):表头在前 10 行内即可,列名可用常见写法(如“公民身份号码”“入党时间”“所在支部”)。"),
    ("说明", "整个文件校验无误才会导入;任何一行有错,都不会保存任何数据。重复导入同一文件不会产生变化。"),
]


RowError = staged_import.RowError


@dataclass(frozen=True)
class PreviewRow:
    """A person row of the file as the preview lists it (to create, or unchanged)."""

    sheet: str
    row: int
    name: str
    unit: str
    category: str


@dataclass(frozen=True)
class Difference:
    """One field of a person on the roll that the file writes otherwise: the file's header."""

    column: str
    on_roll: str
    in_file: str


@dataclass(frozen=True)
class DiffersRow:
    """A person already on the roll whose file row differs: never changed by the import;
    corrected, if the file is right, through 更正信息 with a reason."""

    sheet: str
    row: int
    member_id: int
    name: str
    differences: tuple[Difference, ...]


@dataclass
class ImportResult(staged_import.StagedResult):
    """What a file holds against the roll (the preview), and after an import what it did."""

    to_create: list[PreviewRow] = field(default_factory=list)
    same: list[PreviewRow] = field(default_factory=list)
    differs: list[DiffersRow] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # the enrolments, for the import
    unchanged: int = 0
    columns: roster_files.MissingColumns | None = None  # required headers not recognised: the user maps them
    mapped: list[tuple[str, str]] = field(default_factory=list)  # (file header, field label) from saved mappings

    @classmethod
    def unreadable(cls, exc: roster_files.RosterFileError) -> ImportResult:
        result = super().unreadable(exc)
        if isinstance(exc, roster_files.MissingColumns):
            result.columns = exc
        return result


RosterFileError = roster_files.RosterFileError


def template_bytes() -> bytes:
    """The downloadable template: header row, one example row, and a 填写说明 sheet."""
    wb = exports.workbook()
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
    return exports.xlsx_bytes(wb)


max_rows = staged_import.max_rows


def _text(value: Any) -> str:
    """A cell as text: half-width (NFKC: １３８ → 138, full-width spaces → spaces), trimmed."""
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return unicodedata.normalize("NFKC", str(value)).strip()


def _name(value: Any) -> str:
    """A name: a Chinese name loses the spaces used to align it (“张  三”); others keep single ones."""
    text = " ".join(_text(value).split())
    return text.replace(" ", "") if _CJK_NAME.fullmatch(text) else text


def _id_number(value: Any) -> str:
    if isinstance(value, float):  # typed into a General cell: Excel keeps 15 digits, the rest is lost
        raise ValueError("身份证号被 Excel 存成了数字,后几位已丢失;请把该列设为“文本”后重新填写")
    return re.sub(r"\s+", "", _text(value)).upper()


def _choice(field_name: str, value: Any) -> str:
    text = _text(value)
    return roster_files.rules().values.get(field_name, {}).get(text, text)


_CJK_NAME = re.compile(r"[\u3400-\u9fff·• ]+")
_YMD = re.compile(r"(\d{4})\s*[年./-]\s*(\d{1,2})\s*[月./-]\s*(\d{1,2})\s*日?(?:[ T]\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)?")
_YM = re.compile(r"(\d{4})\s*[年./-]\s*(\d{1,2})\s*月?")


def _date(value: Any, date1904: bool = False) -> dt.date | None:
    """Dates as offices write them: an Excel date or serial number (counted from 1904 when the
    workbook says so), 2019-07-01, 2019年7月1日, 2019.7.1, 2019/07/01, 20190701; a month alone
    (2019-7, 2019年7月) is the first of that month."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = _text(value)
    numeric = isinstance(value, (int, float)) and not isinstance(value, bool)
    if numeric and not re.fullmatch(r"\d{8}", text) and 0 < value < 2958466:
        # a number in a cell without a date style: Excel's serial day
        return roster_files.excel_date(value, 1 if date1904 else 0)
    try:
        if m := _YMD.fullmatch(text):
            return dt.date(int(m[1]), int(m[2]), int(m[3]))
        if re.fullmatch(r"\d{8}", text):
            return dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
        if m := _YM.fullmatch(text):
            return dt.date(int(m[1]), int(m[2]), 1)
        if re.fullmatch(r"\d{5}", text):  # a serial number exported to CSV
            return roster_files.excel_date(int(text))
    except ValueError:
        pass
    raise ValueError(f"日期“{text}”无法识别,请用 2019-07-01、2019年7月1日 或 Excel 日期")


_COMPARED = ("name", "gender", "birth_date", "ethnicity", "education", "phone", "category", "joined_on", "full_on")


def _shown(field_name: str, value: Any) -> str:
    if value in (None, ""):
        return "(空)"
    if field_name == "gender":
        return str(Gender(value).label)
    if field_name == "category":
        return str(MemberCategory(value).label)
    if isinstance(value, dt.date):
        return value.isoformat()
    return str(value)


def _differences(member: Member, ms: Membership, fields: dict[str, Any], group: Unit | None,
                 labels: dict[str, str]) -> tuple[Difference, ...]:
    """The fields the file gives a column and writes otherwise than the roll, side by side."""
    out = []
    for f in _COMPARED:
        if f in labels and (getattr(member, f) or None) != (fields.get(f) or None):
            out.append(Difference(labels[f], _shown(f, getattr(member, f)), _shown(f, fields.get(f))))
    if "group" in labels and (ms.group_id or None) != (group.pk if group else None):
        out.append(Difference(labels["group"], ms.group.name if ms.group else "(无)", group.name if group else "(无)"))
    return tuple(out)


def _candidates(units: list[Unit]) -> str:
    return "、".join(f"{u.name}(编码 {u.code})" for u in sorted(units, key=lambda u: u.code))


class _Units:
    """Units as the file names them, by code or by name, looked up only within the importer's
    scope: a unit the importer may not see is answered like an unknown one, never named."""

    def __init__(self, actor, rows: list[roster_files.SourceRow]):
        self.actor = actor
        texts = {_text(r.values.get(k)) for r in rows for k in ("unit", "group")} - {""}
        self.by_code = {u.code: u for u in Unit.objects.filter(code__in=texts)}
        self.by_name: dict[str, list[Unit]] = {}
        for u in Unit.objects.filter(name__in=texts - set(self.by_code)):
            self.by_name.setdefault(u.name, []).append(u)

    def unit(self, text: str) -> tuple[Unit | None, str]:
        u = self.by_code.get(text)
        if u is not None and can_see(self.actor, u):
            return u, ""
        seen = [u for u in self.by_name.get(text, []) if can_see(self.actor, u)]
        if len(seen) == 1:
            return seen[0], ""
        if seen:
            return None, f"党组织名称“{text}”对应 {len(seen)} 个组织:{_candidates(seen)};请改填组织编码"
        return None, f"找不到编码或名称为“{text}”的党组织,或该组织不在您的管理范围内"

    def for_act(self, text: str, key: str, refused: str) -> tuple[Unit | None, str]:
        """The unit a row names (``text``) where the importer may do the act ``key``; else why not
        (``refused`` where the unit is seen but the act is not the importer's there)."""
        if not text:
            return None, "党组织不能为空"
        unit, why = self.unit(text)
        if why:
            return None, why
        if not allowed(self.actor, key, unit):
            return None, refused
        return unit, ""

    def group(self, text: str, unit: Unit) -> tuple[Unit | None, str]:
        g = self.by_code.get(text)
        if g is None:
            seen = [g for g in self.by_name.get(text, []) if g.parent_id == unit.pk and can_see(self.actor, g)]
            if len(seen) > 1:
                return None, f"党小组名称“{text}”对应 {len(seen)} 个党小组:{_candidates(seen)};请改填党小组编码"
            g = seen[0] if seen else None
        if g is None or not can_see(self.actor, g):
            return None, f"找不到编码或名称为“{text}”的党小组,或该党小组不在您的管理范围内"
        if g.kind != UnitKind.GROUP or g.parent_id != unit.pk:
            return None, f"“{g.name}”不是“{unit.name}”下的党小组"
        return g, ""


def _where(src: roster_files.SourceRow) -> str:
    return f"工作表“{src.sheet}”第 {src.row} 行" if src.sheet else f"第 {src.row} 行"


def _mapping(actor) -> dict[str, str]:
    return {m.header_key: m.field for m in column_mappings(actor)}


class _RosterSheet:
    """The roster as a staged import (``qms.staged_import.Importer``): the headers an
    organisation saved for its own files are read too (``save_column_mapping``)."""

    result = ImportResult
    stale = staged_import.stale_notice("花名册", "例如有人已被编入、调出或信息已更正")
    nothing = "文件中没有需要新建的人员,无需导入。"

    def read(self, fileobj, *, actor) -> list[roster_files.SourceRow]:
        return staged_import.read_sheet(fileobj, mapping=_mapping(actor), rows=max_rows())

    def classify(self, rows: list[roster_files.SourceRow], *, actor) -> ImportResult:
        result = _check(rows, actor)
        mapping = _mapping(actor)
        result.mapped = sorted({(label, HEADER_OF[f]) for r in rows for f, label in r.labels.items()
                                if roster_files.header_key(label) in mapping})
        return result

    def record(self, rows: list[dict[str, Any]], *, actor) -> None:
        for row in rows:
            row = dict(row)
            unit, group, start = row.pop("unit"), row.pop("group"), row.pop("start")
            services.member_enroll(actor=actor, unit=unit, group=group, start=start, **row)


ROSTER = _RosterSheet()


@act("roster.import", unit=managed_unit)
def validate_roster(fileobj, *, actor) -> ImportResult:
    """Check every row of an upload against the rules and the roll; nothing is saved."""
    return staged_import.validate(ROSTER, fileobj, actor=actor)


def _check(rows: list[roster_files.SourceRow], actor) -> ImportResult:
    """Every row classified: to create, unchanged, differing from the roll, or in error."""
    result = ImportResult()
    units = _Units(actor, rows)
    ids = set()
    for src in rows:
        with contextlib.suppress(ValueError):
            ids.add(_id_number(src.values.get("id_number")))
    existing = {m.id_number: m for m in Member.objects.filter(id_number__in=ids)}
    current = {
        ms.member_id: ms for ms in Membership.objects.filter(member__id_number__in=ids, end__isnull=True).select_related("unit", "group")
    }
    last_unit = {ms.member_id: ms.unit for ms in  # where a person no longer on any roster was last
                 Membership.objects.filter(member__id_number__in=ids).select_related("unit").order_by("start", "pk")}
    first_row: dict[str, tuple[roster_files.SourceRow, str]] = {}
    today = timezone.localdate()
    for src in rows:
        raw = src.values
        errs: list[RowError] = []

        def err(field_name: str, reason: str, src=src, errs=errs) -> None:
            errs.append(RowError(src.row, src.labels.get(field_name, HEADER_OF[field_name]), reason, src.sheet))

        for f, v in raw.items():
            if isinstance(v, roster_files.Formula):
                err(f, f"单元格是公式({v[:40]}),文件中没有保存计算结果;请在 Excel 或 WPS 中打开并保存后再上传")
            elif isinstance(v, roster_files.CellError):
                err(f, f"单元格是错误值 {v},请改正后再上传")
        if errs:
            result.errors.extend(errs)
            continue
        fields: dict[str, Any] = {
            "name": _name(raw.get("name")),
            "ethnicity": _text(raw.get("ethnicity")),
            "education": _text(raw.get("education")),
            "phone": re.sub(r"\s+", "", _text(raw.get("phone"))),
        }
        try:
            fields["id_number"] = _id_number(raw.get("id_number"))
        except ValueError as exc:
            fields["id_number"] = ""
            err("id_number", str(exc))
        gender = _choice("gender", raw.get("gender"))
        fields["gender"] = GENDERS.get(gender, "")
        if gender and not fields["gender"]:
            err("gender", f"性别“{gender}”无效,应为“男”或“女”")
        category = _choice("category", raw.get("category"))
        fields["category"] = CATEGORIES.get(category, "")
        if category and not fields["category"]:
            err("category", f"人员类别“{category}”无效,应为正式党员、预备党员、发展对象或入党积极分子")
        for f in DATE_FIELDS:
            try:
                fields[f] = _date(raw.get(f), src.date1904)
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
            if f in HEADER_OF and src.labels.get(f, HEADER_OF[f]) not in already:
                err(f, reason)
        idn = fields["id_number"]
        if idn:
            written = str(raw.get("id_number")).strip()  # as the file writes it
            if idn in first_row:
                other, other_written = first_row[idn]
                how = f"(写法不同:“{other_written}”与“{written}”,是同一个号码)" if other_written != written else ""
                err("id_number", f"身份证号与{_where(other)}重复{how}")
            else:
                first_row[idn] = (src, written)
        unit_text, group_text = _text(raw.get("unit")), _text(raw.get("group"))
        unit = group = None
        # an error names a unit or a person only inside the importer's scope (qms/scoping.py): a code
        # or a 身份证号 from elsewhere is answered like an unknown one, never with a name
        if not unit_text:
            err("unit", f"{src.labels.get('unit', '所在党组织')}不能为空")
        else:
            unit, reason = units.unit(unit_text)
            if reason:
                err("unit", reason)
            elif unit.kind not in BRANCH_KINDS:
                err("unit", f"“{unit.name}”是{unit.get_kind_display()},党员只能编入党支部")
            elif not can_manage(actor, unit):
                err("unit", f"“{unit.name}”不在您的管理范围内")
        if group_text and unit is not None:
            group, reason = units.group(group_text, unit)
            if reason:
                err("group", reason)
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
            elif diffs := _differences(member, ms, fields, group, src.labels):
                result.differs.append(DiffersRow(src.sheet, src.row, member.pk, member.name, diffs))
                continue
            else:
                result.unchanged += 1
                result.same.append(PreviewRow(src.sheet, src.row, member.name, unit.name, member.get_category_display()))
                continue
        if errs:
            result.errors.extend(errs)
            continue
        result.rows.append({**fields, "unit": unit, "group": group, "start": start})
        result.to_create.append(PreviewRow(src.sheet, src.row, fields["name"], unit.name,
                                           str(MemberCategory(fields["category"]).label)))
    return result


def _enrol(result: ImportResult, actor) -> ImportResult:
    """Enrol every row to create, in one transaction; on a clash with another change, nothing."""
    if not result.ok:
        result.unchanged = 0
        return result
    return staged_import.commit(ROSTER, result, actor=actor)


@act("roster.import", unit=managed_unit)
def import_roster(fileobj, *, actor) -> ImportResult:
    """Validate every row; import all of them or, on any error, nothing (rows that differ from
    the roll are left as they are on the roll)."""
    return _enrol(validate_roster(fileobj, actor=actor), actor)


@act("roster.import", unit=managed_unit)
def import_rows(rows: list[roster_files.SourceRow], *, actor, dry_run: bool = False) -> ImportResult:
    """People sent by another system as data (the REST API; ``staged_import.data_rows``), through
    the same checks as a roster file and matched to the roll by 身份证号: recorded all or nothing,
    and not at all while any row is in error or differs from the roll (a correction goes through
    更正信息 with a reason), nor on a dry run. Sending the same rows again changes nothing."""
    rows = [roster_files.SourceRow(r.sheet, r.row, {f: _coded(f, v) for f, v in r.values.items()}, r.labels)
            for r in rows]
    result = staged_import.apply(ROSTER, ROSTER.classify(rows, actor=actor), actor=actor, dry=dry_run)
    if not result.ok:
        result.unchanged = 0
    return result


#: a program may send the stored codes (``M``, ``full``) as well as the words (男, 正式党员)
_CODES = {"gender": {v: str(label) for v, label in Gender.choices},
          "category": {v: str(label) for v, label in MemberCategory.choices}}


def _coded(field_name: str, value: Any) -> Any:
    return _CODES.get(field_name, {}).get(value, value) if isinstance(value, str) else value


# ------------------------------------------------------------------ preview, then confirm

STALE = ROSTER.stale
PendingGone = staged_import.PendingGone

#: 上传 → 预览 → 确认导入, each the act ``roster.import``
STEPS = staged_import.steps(
    ROSTER, "roster.import", module=__name__, names=("stage_upload", "preview_staged", "confirm_staged"),
    what="roster file")
stage_upload, preview_staged, confirm_staged = STEPS


@act("roster.import", unit=managed_unit)
def discard_staged(token: str, *, actor) -> None:
    """The user gives up this upload: its kept file is deleted."""
    if roster_pending.load(token, user=actor) is not None:
        roster_pending.discard(token)


# ------------------------------------------------------------------ an organisation's own headers

MAPPABLE = [f for _h, f, _r in COLUMNS]


def _mapping_unit(actor) -> Unit | None:
    return managed_unit(actor=actor)


def column_mappings(user) -> list[RosterColumnMapping]:
    """The column mappings that apply to ``user``'s imports (read only): saved by the organisation
    they manage or by one above it, the nearest winning for a header."""
    unit = _mapping_unit(user) if user is not None else None
    if unit is None:
        return []
    ids = [int(p) for p in unit.path.strip("/").split("/") if p] or [unit.pk]
    found = sorted(RosterColumnMapping.objects.filter(unit_id__in=ids).select_related("unit"), key=lambda m: m.unit.depth)
    return list({m.header_key: m for m in found}.values())  # deeper units come later and win


@act("roster.import", unit=managed_unit)
def save_column_mapping(token: str, *, actor, choices: dict[str, str]) -> list[RosterColumnMapping]:
    """The user says which of the file's unrecognised columns is which field (``choices``: field →
    the header as the file writes it); saved for the organisation the user manages, with ledger
    entries, and used for this file's preview and every later import from that organisation."""
    _pending, result = staged_import.preview(ROSTER, token, actor=actor)
    need = result.columns
    if need is None:
        raise ValidationError("这个文件的表头已全部识别,无需设置列对应")
    choices = {f: h for f, h in choices.items() if h}
    unknown = set(need.unknown)
    errors = []
    for f, h in choices.items():
        if f not in HEADER_OF:
            errors.append("未知的项目")
        elif h not in unknown:
            errors.append(f"文件表头中没有可对应的列“{h}”")
    used = [h for h in choices.values()]
    if len(set(used)) != len(used):
        errors.append("同一列不能对应两个项目")
    still = [HEADER_OF[f] for f in need.missing if f not in choices]
    if still:
        errors.append(f"请为必填项目选择文件中的列:{'、'.join(still)}")
    if errors:
        raise ValidationError(errors)
    unit = _mapping_unit(actor)
    saved = []
    with transaction.atomic():
        for f, h in choices.items():
            key = roster_files.header_key(h)
            obj = RosterColumnMapping.objects.filter(unit=unit, header_key=key).select_for_update().first()
            before = ledger.snapshot(obj) if obj else None
            if obj is None:
                obj = RosterColumnMapping(unit=unit, header_key=key)
            obj.header, obj.field = h, f
            obj.save()
            ledger.record("roster_mapping.set", obj, actor=actor, before=before,
                          reason=f"导入花名册时设定:文件列“{h}”对应“{HEADER_OF[f]}”")
            saved.append(obj)
    return saved
