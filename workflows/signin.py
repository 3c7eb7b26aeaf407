"""签到表 — the meeting's sign-in sheet as an Excel file: downloaded with the roster of the
meeting day, filled in (出席/缺席/请假, 原因, 签名) and uploaded back, read all or nothing,
then saved in one step by ``services.attendance_save``."""
from __future__ import annotations

import io

from django.core.exceptions import ValidationError
from openpyxl import load_workbook
from openpyxl.styles import Alignment, Font
from openpyxl.worksheet.datavalidation import DataValidation

from qms import archives, exports
from workflows import services
from workflows.models import Occurrence

HEADERS = ["编号", "姓名", "所在党小组", "出席情况", "原因(缺席、请假须填)", "签名"]
CHOICES = {"出席": "present", "缺席": "absent", "请假": "leave"}
FIRST_ROW = 3  # title, headers, then one row per member
MAX_BYTES = 5 * 1024 * 1024


def sheet(occ: Occurrence) -> bytes:
    """A blank sign-in sheet for the meeting day's roster (出席 pre-filled: change the exceptions)."""
    day = services.meeting_day(occ)
    roster = list(services.attendees_on(occ, day).order_by("name"))
    groups = {ms.member_id: ms.group.name for ms in occ.unit.memberships.filter(member__in=roster, end__isnull=True)
              .select_related("group") if ms.group}
    wb = exports.workbook()
    ws = wb.active
    ws.title = "签到表"
    ws.append([f"{occ.unit.name} · {occ.obligation.title} · {day:%Y年%m月%d日} 签到表"])
    ws.merge_cells(start_row=1, start_column=1, end_row=1, end_column=len(HEADERS))
    ws["A1"].font, ws["A1"].alignment = Font(bold=True, size=14), Alignment(horizontal="center")
    ws.append(HEADERS)
    for m in roster:
        ws.append([m.pk, m.name, groups.get(m.pk, ""), "出席", "", ""])
    rule = DataValidation(type="list", formula1='"出席,缺席,请假"', allow_blank=False)
    ws.add_data_validation(rule)
    rule.add(f"D{FIRST_ROW}:D{FIRST_ROW + max(len(roster), 1) - 1}")
    for col, width in zip("ABCDEF", (8, 12, 14, 10, 24, 16), strict=True):
        ws.column_dimensions[col].width = width
    return exports.xlsx_bytes(wb)


def read(occ: Occurrence, data: bytes) -> dict[int, tuple[str, str]]:
    """The marks in an uploaded sheet, or a ValidationError listing every bad row by its row
    number in the file. Only people on the meeting day's roster are accepted."""
    if len(data) > MAX_BYTES:
        raise ValidationError("签到表文件过大")
    try:
        archives.check_archive(data)
        ws = load_workbook(io.BytesIO(data), read_only=True, data_only=True).active
        rows = list(ws.iter_rows(min_row=FIRST_ROW, values_only=True))
    except ValidationError:
        raise
    except Exception as exc:  # not an .xlsx openpyxl can read (a corrupt or other file)
        raise ValidationError("无法读取签到表:请上传从本页下载并填写的 Excel 文件(.xlsx)") from exc
    roster = {m.pk: m for m in services.roster_on(occ.unit, services.meeting_day(occ))}
    marks: dict[int, tuple[str, str]] = {}
    errors = []
    for n, row in enumerate(rows, start=FIRST_ROW):
        cells = list(row) + [None] * len(HEADERS)
        pk, name, _group, choice, reason = cells[:5]
        if pk is None and not name:
            continue  # an empty row
        try:
            pk = int(pk)
        except (TypeError, ValueError):
            errors.append(f"第{n}行:编号不能修改或删除")
            continue
        member = roster.get(pk)
        if member is None or (name and str(name).strip() != member.name):
            errors.append(f"第{n}行:不在本次会议当日的党员名册中")
            continue
        choice = str(choice or "").strip()
        if choice not in CHOICES:
            errors.append(f"第{n}行 {member.name}:出席情况应填出席、缺席或请假")
            continue
        reason = str(reason or "").strip()
        if choice != "出席" and not reason:
            errors.append(f"第{n}行 {member.name}:{choice}须填写原因")
            continue
        marks[pk] = (CHOICES[choice], reason)
    if errors:
        raise ValidationError(errors)
    if not marks:
        raise ValidationError("签到表中没有登记任何人")
    return marks
