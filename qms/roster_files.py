"""花名册文件 — reading the roster files party offices actually keep, before any rule is checked.

A branch's 党员花名册 was made by hand years ago: in Excel 2003, in WPS, or exported from
another system as CSV. This module turns such a file into rows of ``field → value`` with the
file's own sheet names and row numbers, so that ``qms.roster`` can check and report every
row as the person who made the file sees it.

* **Formats are recognised by their bytes, never by the file name**: ``PK`` is an .xlsx
  (Excel, WPS, or a WPS .et saved as xlsx), the OLE2 signature an .xls (Excel 97–2003, or an
  .et that is an xls inside) or a password-protected Office file, anything else is read as
  CSV in UTF-8 (with or without BOM), UTF-16 (Excel's “Unicode 文本”) or GB18030 (a superset
  of GBK, what Excel and WPS on a Chinese Windows write).
* **The header row is found, not assumed**: the first row within ``scan_rows`` of a sheet's
  top that holds every required column (``rules/roster.toml``, where the synonyms live);
  title rows above it, a 序号 column, empty or unknown columns, a repeated header on each
  printed page and notes below the table are ignored. Every sheet with such a header is
  read (one sheet per 支部 is common).
* A cell holding a formula whose result was never saved (a file written by a program, not
  opened in Excel since) is reported as such, not read as empty.

Anything unreadable raises ``RosterFileError`` with a sentence in Chinese for the user.
"""
from __future__ import annotations

import codecs
import csv
import datetime as dt
import io
import re
import tomllib
import unicodedata
from dataclasses import dataclass
from functools import cache
from itertools import zip_longest
from pathlib import Path
from typing import Any

import xlrd
from django.core.exceptions import ValidationError
from openpyxl import load_workbook
from openpyxl.utils.datetime import CALENDAR_MAC_1904

from qms import archives

_RULES = Path(__file__).resolve().parent / "rules" / "roster.toml"
OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
ERROR_VALUES = frozenset({"#N/A", "#VALUE!", "#REF!", "#DIV/0!", "#NUM!", "#NAME?", "#NULL!"})


class RosterFileError(Exception):
    """The file itself cannot be read (not a table, encrypted, corrupt, too big, no header …)."""


class MissingColumns(RosterFileError):
    """A sheet's header row lacks required columns: what the file calls its columns, so that the
    user can say which of them is which (a manual column mapping)."""

    def __init__(self, message: str, *, sheet: str, row: int, missing: list[str], unknown: list[str], found: list[str]):
        super().__init__(message)
        self.sheet, self.row = sheet, row
        self.missing = missing  # required fields not found
        self.unknown = unknown  # the header row's cells that name no field, as written
        self.found = found  # fields found


class Formula(str):
    """A formula cell whose result the file does not hold (the text is the formula)."""


class CellError(str):
    """An Excel error value (#N/A, #REF! …) standing in a cell."""


@dataclass(frozen=True)
class Rules:
    scan_rows: int
    min_fields: int
    required: tuple[str, ...]
    headers: dict[str, tuple[str, ...]]  # field → headers, the template's first
    by_key: dict[str, str]  # normalised header → field
    values: dict[str, dict[str, str]]  # field → {written: meant}
    note_prefixes: tuple[str, ...]
    key_field: str = "id_number"  # a row without it (and without a name, or reading like a note) is no data row
    hint: str = "如“身份证号码”“所在支部”"
    # besides the key field: a row that fills any of these is a data row (an error if it lacks the key)
    data_fields: tuple[str, ...] = ("name",)


@cache
def rules() -> Rules:
    return load_rules(_RULES)


@cache
def load_rules(path: Path) -> Rules:
    """A table's reading rules (``rules/roster.toml`` for the roster; others for other tables)."""
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    headers = {f: tuple(hs) for f, hs in data["headers"].items()}
    by_key: dict[str, str] = {}
    for f, hs in headers.items():
        for h in hs:
            key = header_key(h)
            if by_key.setdefault(key, f) != f:
                raise ValueError(f"roster.toml: header “{h}” names both {by_key[key]} and {f}")
    return Rules(
        scan_rows=data["scan_rows"], min_fields=data["roster_sheet_min_fields"], required=tuple(data["required"]),
        headers=headers, by_key=by_key, values=data.get("values", {}), note_prefixes=tuple(data["notes"]["prefixes"]),
        key_field=data.get("key_field", "id_number"), hint=data.get("hint", "如“身份证号码”“所在支部”"),
        data_fields=tuple(data.get("data_fields", ["name"])),
    )


def header_key(text: Any) -> str:
    """A header cell as compared: half-width, no spaces, no “*” marks, no bracketed note."""
    s = unicodedata.normalize("NFKC", "" if text is None else str(text))
    s = re.sub(r"\(.*?\)|\[.*?\]|【.*?】|<.*?>", "", s)
    return re.sub(r"[\s*※]+", "", s)


@dataclass(frozen=True)
class SourceRow:
    """One person row: where it stands in the file, its values by field, the file's headers."""

    sheet: str  # the sheet's name when the file has several sheets of data, else ""
    row: int  # 1-based, as the spreadsheet program shows it (for CSV: the line)
    values: dict[str, Any]
    labels: dict[str, str]  # field → the header the file gives it
    date1904: bool = False  # the workbook counts days from 1904 (Excel for Mac's old default)


# ------------------------------------------------------------------------------ formats


class _Cap:
    """Stops reading a file with far more filled rows than may be imported, before it is all in
    memory (an .xlsx of 100 MB unpacked holds millions of cells)."""

    def __init__(self, max_rows: int, scan_rows: int = 10):
        self.max_rows = max_rows
        self.left = max_rows + scan_rows + 100  # titles, headers, notes

    def row(self, row: list[Any]) -> list[Any]:
        if any(c is not None and c != "" for c in row):
            self.left -= 1
            if self.left < 0:
                raise RosterFileError(f"数据行超过 {self.max_rows} 行,请分批导入")
        return row


def _grids_xlsx(data: bytes, cap: _Cap) -> tuple[list[tuple[str, list[list[Any]]]], bool]:
    try:  # an .xlsx is a ZIP archive: checked unpacked, in memory, before openpyxl inflates it
        archives.check_archive(data)
    except ValidationError as exc:
        raise RosterFileError(";".join(exc.messages)) from exc
    try:
        values = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
        formulas = load_workbook(io.BytesIO(data), read_only=True, data_only=False)
    except Exception as exc:  # a damaged part fails anywhere inside openpyxl (XML, zip, styles …)
        raise RosterFileError("文件已损坏或不是有效的 Excel(.xlsx)文件") from exc
    out = []
    date1904 = values.epoch == CALENDAR_MAC_1904
    try:
        for ws, wf in zip(values.worksheets, formulas.worksheets, strict=True):
            grid = []
            for rv, rf in zip_longest(ws.iter_rows(values_only=True), wf.iter_rows(values_only=True), fillvalue=()):
                row = []
                for v, f in zip_longest(rv or (), rf or ()):
                    if v is None and isinstance(f, str) and f.startswith("="):
                        v = Formula(f)
                    elif isinstance(v, str) and v in ERROR_VALUES:
                        v = CellError(v)
                    row.append(v)
                grid.append(cap.row(row))
            out.append((ws.title, grid))
    except RosterFileError:
        raise
    except Exception as exc:  # the sheets are parsed lazily: damage shows while reading rows
        raise RosterFileError("文件已损坏或不是有效的 Excel(.xlsx)文件") from exc
    finally:
        values.close()
        formulas.close()
    return out, date1904


def _grids_xls(data: bytes, cap: _Cap) -> tuple[list[tuple[str, list[list[Any]]]], bool]:
    if "EncryptedPackage".encode("utf-16-le") in data or "EncryptionInfo".encode("utf-16-le") in data:
        raise RosterFileError("文件设有打开密码,系统无法读取。请在 Excel 或 WPS 中取消密码(文件 → 信息 → 保护工作簿)后另存再上传")
    try:
        book = xlrd.open_workbook(file_contents=data, on_demand=True, logfile=io.StringIO())
    except xlrd.XLRDError as exc:
        if "encrypted" in str(exc).lower():
            raise RosterFileError("文件设有打开密码,系统无法读取。请在 Excel 或 WPS 中取消密码后另存再上传") from exc
        raise RosterFileError("文件已损坏,或不是 Excel 97–2003(.xls)文件;请在 Excel 或 WPS 中打开后另存为 .xlsx 再上传") from exc
    except Exception as exc:  # xlrd raises bare struct/index errors on damaged files
        raise RosterFileError("文件已损坏,无法读取;请在 Excel 或 WPS 中打开后另存为 .xlsx 再上传") from exc
    out = []
    try:
        for i in range(book.nsheets):
            sh = book.sheet_by_index(i)
            grid = []
            for r in range(sh.nrows):
                row = []
                for c in sh.row(r):
                    if c.ctype == xlrd.XL_CELL_DATE:
                        try:
                            row.append(xlrd.xldate.xldate_as_datetime(c.value, book.datemode))
                        except (xlrd.xldate.XLDateError, ValueError, OverflowError):
                            row.append(c.value)
                    elif c.ctype == xlrd.XL_CELL_ERROR:
                        row.append(CellError(xlrd.error_text_from_code.get(c.value, "#错误")))
                    elif c.ctype in (xlrd.XL_CELL_EMPTY, xlrd.XL_CELL_BLANK):
                        row.append(None)
                    else:
                        row.append(c.value)
                grid.append(cap.row(row))
            out.append((sh.name, grid))
            book.unload_sheet(i)
    except RosterFileError:
        raise
    except Exception as exc:
        raise RosterFileError("文件已损坏,无法读取;请在 Excel 或 WPS 中打开后另存为 .xlsx 再上传") from exc
    finally:
        book.release_resources()
    return out, book.datemode == 1


def _decode(data: bytes) -> str:
    for bom, enc in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16")):
        if data.startswith(bom):
            try:
                return data.decode(enc)
            except UnicodeDecodeError as exc:
                raise RosterFileError("文件编码有误,无法读取") from exc
    if b"\x00" in data[:4096]:
        raise RosterFileError("文件不是 Excel(.xlsx / .xls)或 CSV 表格,请下载模板填写后上传")
    for enc in ("utf-8", "gb18030"):
        try:
            return data.decode(enc)
        except UnicodeDecodeError:
            continue
    raise RosterFileError("无法识别 CSV 文件的编码(支持 UTF-8 与 GBK/GB18030),请在 Excel 或 WPS 中另存为 .xlsx 后上传")


def _grids_csv(data: bytes, cap: _Cap) -> tuple[list[tuple[str, list[list[Any]]]], bool]:
    text = _decode(data)
    first = text.split("\n", 1)[0]
    delimiter = "\t" if first.count("\t") > first.count(",") else ","
    try:
        grid = [cap.row([c if c.strip() else None for c in row])
                for row in csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)]
    except csv.Error as exc:
        raise RosterFileError(f"CSV 文件格式有误:{exc}") from exc
    return [("", grid)], False


def _grids(data: bytes, cap: _Cap) -> tuple[list[tuple[str, list[list[Any]]]], bool]:
    """The sheets, and whether the workbook counts its dates from 1904."""
    if not data.strip():
        raise RosterFileError("文件是空的")
    if data.startswith(b"PK"):
        return _grids_xlsx(data, cap)
    if data.startswith(OLE2):
        return _grids_xls(data, cap)
    return _grids_csv(data, cap)


# ------------------------------------------------------------------------------ tables


def _columns(row: list[Any], mapping: dict[str, str] | None = None, spec: Rules | None = None) -> dict[str, list[int]]:
    by_key = {**(spec or rules()).by_key, **(mapping or {})}
    found: dict[str, list[int]] = {}
    for i, cell in enumerate(row):
        if isinstance(cell, str) and (f := by_key.get(header_key(cell))):
            found.setdefault(f, []).append(i)
    return found


def _is_note(row: list[Any], spec: Rules | None = None) -> bool:
    first = next((c for c in row if c not in (None, "")), None)
    return isinstance(first, str) and unicodedata.normalize("NFKC", first).strip().startswith((spec or rules()).note_prefixes)


def _blank(v: Any) -> bool:
    return v is None or (isinstance(v, str) and not v.strip())


def read_rows(data: bytes, *, max_rows: int, mapping: dict[str, str] | None = None, spec: Rules | None = None) -> list[SourceRow]:
    """Every data row of every sheet that has a header row, in file order. ``mapping``
    (header key → field) adds an organisation's own headers to the synonyms; ``spec`` is the
    table's reading rules (the roster's by default)."""
    r = spec or rules()
    sheets, date1904 = _grids(data, _Cap(max_rows, r.scan_rows))
    found: list[tuple[str, list[list[Any]], int, dict[str, list[int]]]] = []
    lacking: list[tuple[str, int, list[str]]] = []
    nonempty = False
    for title, grid in sheets:
        best: tuple[int, int, dict[str, list[int]]] | None = None
        for i, row in enumerate(grid[: r.scan_rows]):
            nonempty = nonempty or any(not _blank(c) for c in row)
            cols = _columns(row, mapping, r)
            if all(f in cols for f in r.required):
                found.append((title, grid, i, cols))
                best = None
                break
            if best is None or len(cols) > len(best[2]):
                best = (i, len(cols), cols)
        else:
            if best is not None and best[1] >= r.min_fields:
                lacking.append((title, best[0] + 1, grid[best[0]], best[2]))
    if lacking:
        title, n, header, cols = lacking[0]
        missing = [f for f in r.required if f not in cols]
        known = {i for ix in cols.values() for i in ix}
        unknown = list(dict.fromkeys(str(c).strip() for i, c in enumerate(header)
                                     if i not in known and isinstance(c, str | int | float) and str(c).strip()))
        where = f"工作表“{title}”第 {n} 行" if len(sheets) > 1 else f"第 {n} 行"
        raise MissingColumns(f"缺少必需的列:{'、'.join(r.headers[f][0] for f in missing)}({where}像是表头;列名可用模板的写法或常见写法,"
                             f"{r.hint})", sheet=title if len(sheets) > 1 else "", row=n, missing=missing,
                             unknown=unknown, found=list(cols))
    if not found:
        if not nonempty:
            raise RosterFileError("表格是空的:应有一行表头(姓名、性别、身份证号……)和数据行")
        need = "、".join(r.headers[f][0] for f in r.required)
        raise RosterFileError(f"在每个工作表的前 {r.scan_rows} 行中都找不到表头;表头应包含这些列:{need}(请下载模板对照)")
    out: list[SourceRow] = []
    many = len(found) > 1
    for title, grid, h, cols in found:
        header = grid[h]
        labels = {f: str(header[ix[0]]).strip() for f, ix in cols.items()}
        header_keys = [header_key(c) for c in header]
        for n, row in enumerate(grid[h + 1:], start=h + 2):
            values = {f: next((row[i] for i in ix if i < len(row) and not _blank(row[i])), None) for f, ix in cols.items()}
            if all(_blank(v) for v in values.values()):
                continue
            if [header_key(c) for c in row[: len(header_keys)]] == header_keys[: len(row)]:
                continue  # the header repeated at the top of each printed page
            if _blank(values.get(r.key_field)) and (all(_blank(values.get(f)) for f in r.data_fields) or _is_note(row, r)):
                continue  # a note, a total, a numbered empty line
            if len(out) >= max_rows:
                raise RosterFileError(f"数据行超过 {max_rows} 行,请分批导入")
            out.append(SourceRow(title if many else "", n, values, labels, date1904))
    if not out:
        raise RosterFileError("表格中没有数据行")
    if all(isinstance(v, Formula) for s in out for v in s.values.values() if not _blank(v)):
        raise RosterFileError("文件中只有公式,没有保存计算结果(通常是程序生成、未用 Excel 打开保存过的文件)。"
                              "请在 Excel 或 WPS 中打开并保存后再上传,或把数据“选择性粘贴 → 数值”到新表")
    return out


def read_upload(fileobj, *, max_bytes: int, max_rows: int, mapping: dict[str, str] | None = None,
                spec: Rules | None = None) -> list[SourceRow]:
    size = getattr(fileobj, "size", None)
    if size is None:
        pos = fileobj.tell()
        fileobj.seek(0, io.SEEK_END)
        size = fileobj.tell() - pos
        fileobj.seek(pos)
    if size > max_bytes:
        raise RosterFileError(f"文件过大({size / 1048576:.1f} MB),上限为 {max_bytes / 1048576:.0f} MB")
    return read_rows(fileobj.read(), max_rows=max_rows, mapping=mapping, spec=spec)


def excel_date(serial: float, datemode: int = 0) -> dt.date:
    """An Excel serial day number: the 1900 date system (with its phantom 1900-02-29), or with
    ``datemode`` 1 the 1904 system a workbook may be set to (Excel for Mac's old default)."""
    base = dt.date(1904, 1, 1) if datemode else dt.date(1899, 12, 30)
    return base + dt.timedelta(days=int(serial))
