"""导出 — the one place that writes user text into a spreadsheet (.xlsx) or a CSV file.

Spreadsheet formula injection (OWASP "CSV Injection"): a record topic, a ticket's evidence or a
member's name that begins with ``=`` is stored by openpyxl as a live formula, and a CSV field
beginning with ``=``, ``+``, ``-`` or ``@`` is read as one by Excel and WPS; ``=HYPERLINK(...)``
then sends whoever opens the file to another site, ``=cmd|...`` (DDE) runs a program. Every
export goes through this module, so such text always arrives as text:

* ``safe_cell(value)``: a string whose first character — also after leading blanks — is
  ``= + - @``, a tab or a carriage return, or their full-width forms ``＝ ＋ － ＠``, gets a single
  quote in front (the text stays readable and complete); a string that is just a signed number
  ("-3", "+2.5") is not an instruction and is left alone; characters no worksheet may hold
  (control characters) are dropped instead of failing the whole export. Numbers, dates and
  other values keep their type.
* ``workbook()``: a Workbook whose sheets pass every appended or set value through
  ``safe_cell``; ``xlsx_bytes(wb)`` checks every cell once more before saving, so a cell written
  any other way cannot leave as a formula (the product's exports hold no formulas of their own).
* ``csv_writer(stream)`` / ``csv_text(rows)``: CSV rows through ``safe_cell``.

``tests/test_hostile_exports.py`` downloads every export with such text in it and fails if a
module outside this one calls ``Workbook()`` or ``csv.writer``.
"""
from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterable
from typing import Any

from openpyxl import Workbook
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.worksheet.worksheet import Worksheet

#: first characters that make a spreadsheet read a cell as a formula (half- and full-width)
TRIGGERS = frozenset("=+-@\t\r＝＋－＠")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d+)?")
_BLANKS = " \u3000\n\t\r\xa0"


def safe_cell(value: Any) -> Any:
    """A value as it may be written into a cell: text that a spreadsheet would run as a formula
    gets a leading single quote; other values are returned unchanged."""
    if not isinstance(value, str):
        return value
    value = ILLEGAL_CHARACTERS_RE.sub("", value) if ILLEGAL_CHARACTERS_RE.search(value) else value
    if not value or _NUMBER.fullmatch(value):
        return value
    if value[0] in TRIGGERS or value.lstrip(_BLANKS)[:1] in TRIGGERS:
        return "'" + value
    return value


def safe_row(row: Iterable[Any]) -> list[Any]:
    return [safe_cell(v) for v in row]


class SafeWorksheet(Worksheet):
    """A worksheet whose ``append`` and ``cell`` write through ``safe_cell``."""

    def append(self, iterable):
        if isinstance(iterable, dict):
            return super().append({k: safe_cell(v) for k, v in iterable.items()})
        return super().append(safe_row(iterable))

    def cell(self, row, column, value=None):
        return super().cell(row, column, safe_cell(value))


class SafeWorkbook(Workbook):
    """A Workbook made of ``SafeWorksheet`` sheets."""

    def __init__(self):
        super().__init__()
        self._sheets = [SafeWorksheet(self)]

    def create_sheet(self, title=None, index=None):
        ws = SafeWorksheet(parent=self, title=title)
        self._add_sheet(sheet=ws, index=index)
        return ws


def workbook() -> SafeWorkbook:
    """A new workbook for an export (one sheet, like ``Workbook()``)."""
    return SafeWorkbook()


def neutralise(wb: Workbook) -> int:
    """Every cell of ``wb`` made safe in place (a formula becomes its text); how many changed."""
    changed = 0
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                if c.data_type == "f" or isinstance(c.value, str):
                    safe = safe_cell(c.value)
                    if safe != c.value or c.data_type == "f":
                        c.value = safe
                        changed += 1
    return changed


def xlsx_bytes(wb: Workbook) -> bytes:
    """The workbook saved, after every cell has been checked by ``neutralise``."""
    neutralise(wb)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


class _SafeWriter:
    def __init__(self, stream, **kw):
        self._w = csv.writer(stream, **kw)

    def writerow(self, row: Iterable[Any]):
        return self._w.writerow(safe_row(row))

    def writerows(self, rows: Iterable[Iterable[Any]]):
        for row in rows:
            self.writerow(row)


def csv_writer(stream, **kw) -> _SafeWriter:
    """``csv.writer(stream)`` whose rows pass through ``safe_cell``."""
    return _SafeWriter(stream, **kw)


def csv_text(rows: Iterable[Iterable[Any]]) -> str:
    """Rows as CSV text, through ``safe_cell``."""
    buf = io.StringIO()
    csv_writer(buf).writerows(rows)
    return buf.getvalue()


XLSX_MIME = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
