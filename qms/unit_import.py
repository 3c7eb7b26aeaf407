"""组织架构导入 — the unit tree from an office's own sheet, previewed, then imported all or nothing.

A committee starting with the product has its organisations listed somewhere already: a sheet
with each 党组织's code, name, kind, parent, founding date and the start of its current term.
The file is read like a roster (``qms.roster_files`` with ``rules/unit_import.toml``: header row
found, title rows and notes ignored, the office's own header words and kind words), kept on the
server between preview and confirm (``qms.staged_import``), and classified like the roster:
units to create, unchanged, differing from the tree (side by side; changes go through the unit's
edit page, with a reason), errors in the file's own rows and headers. A parent is a row of the
same file (in any order) or a unit within the importer's scope, by code or by name; a unit the
importer may not see is answered like an unknown one. Confirm creates every unit, parents first,
through ``services.unit_create`` (one ledger entry each) in one transaction — only if the file,
checked again, still gives the preview shown.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from qms import roster, roster_files, services, staged_import
from qms.models import Unit, UnitKind
from qms.permissions import allowed
from qms.scoping import can_manage, can_see
from qms.staged_import import RowError

_RULES = Path(__file__).resolve().parent / "rules" / "unit_import.toml"
LABELS = {"code": "组织编码", "name": "组织名称", "kind": "组织类别", "parent": "上级组织", "founded_on": "成立日期",
          "term_start": "本届任期开始"}
KINDS = {str(label): value for value, label in UnitKind.choices}

def spec() -> roster_files.Rules:
    return roster_files.load_rules(_RULES)


@dataclass(frozen=True)
class UnitRow:
    sheet: str
    row: int
    code: str
    name: str
    kind: str
    parent: str


@dataclass(frozen=True)
class UnitDiffers:
    sheet: str
    row: int
    code: str
    name: str
    differences: tuple[roster.Difference, ...]


@dataclass
class UnitImportResult(staged_import.StagedResult):
    to_create: list[UnitRow] = field(default_factory=list)
    same: list[UnitRow] = field(default_factory=list)
    differs: list[UnitDiffers] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # in creation order, parents first


def _date_shown(d: dt.date | None) -> str:
    return d.isoformat() if d else "(空)"


def _check(rows: list[roster_files.SourceRow], actor) -> UnitImportResult:
    result = UnitImportResult()
    today = timezone.localdate()
    texts = {roster._text(r.values.get(k)) for r in rows for k in ("code", "parent")} - {""}
    by_code = {u.code: u for u in Unit.objects.filter(code__in=texts).select_related("parent")}
    by_name: dict[str, list[Unit]] = {}
    for u in Unit.objects.filter(name__in=texts):
        if can_see(actor, u):
            by_name.setdefault(u.name, []).append(u)
    parsed: list[tuple[roster_files.SourceRow, dict[str, Any]]] = []
    file_codes: dict[str, roster_files.SourceRow] = {}
    file_rows: dict[str, dict[str, Any]] = {}
    file_names: dict[str, list[str]] = {}
    bad_rows: set[int] = set()
    for i, src in enumerate(rows):
        raw, errs = src.values, []

        def err(f: str, reason: str, src=src, errs=errs) -> None:
            errs.append(RowError(src.row, src.labels.get(f, LABELS[f]), reason, src.sheet))

        code, name = roster._text(raw.get("code")), " ".join(roster._text(raw.get("name")).split())
        if not services._CODE_RE.match(code):
            err("code", "组织编码不能为空,只能由字母、数字、下划线、点和短横线组成,最长32位" if code else "组织编码不能为空")
        elif code in file_codes:
            err("code", f"组织编码 {code} 与{roster._where(file_codes[code])}重复")
        else:
            file_codes[code] = src
        if not name:
            err("name", "组织名称不能为空")
        kind_text = roster._text(raw.get("kind"))
        kind_text = spec().values.get("kind", {}).get(kind_text, kind_text)
        kind = KINDS.get(kind_text, "")
        if not kind:
            err("kind", f"组织类别“{kind_text}”无效,应为党委、党总支、党支部、联合党支部、临时党支部或党小组"
                if kind_text else "组织类别不能为空")
        dates: dict[str, dt.date | None] = {}
        for f in ("founded_on", "term_start"):
            try:
                dates[f] = roster._date(raw.get(f), src.date1904)
            except ValueError as exc:
                dates[f] = None
                err(f, str(exc))
            else:
                if dates[f] and dates[f] > today:
                    err(f, f"{src.labels.get(f, LABELS[f])}不能晚于今天")
        if errs:
            result.errors.extend(errs)
            bad_rows.add(i)
        if name:
            file_names.setdefault(name, []).append(code)
        parsed.append((src, {"code": code, "name": name, "kind": kind, "parent": roster._text(raw.get("parent")), **dates}))
        if file_codes.get(code) is src:
            file_rows[code] = parsed[-1][1]

    # parents: a row of this file, or a unit within scope
    parent_of: dict[str, tuple[str, Any]] = {}  # code → ("file", code) | ("unit", Unit) | ("root", None)
    for i, (src, v) in enumerate(parsed):
        if i in bad_rows:
            continue
        errs: list[RowError] = []

        def err(f: str, reason: str, src=src, errs=errs) -> None:
            errs.append(RowError(src.row, src.labels.get(f, LABELS[f]), reason, src.sheet))

        p = v["parent"]
        target: tuple[str, Any] | None = None
        if not p:
            if allowed(actor, "unit.create", None):
                target = ("root", None)
            else:
                err("parent", "上级组织不能为空:只能在您管理的党组织之下设立")
        elif p in file_codes and p != v["code"]:
            target = ("file", p)
        elif p in by_code and can_see(actor, by_code[p]):
            target = ("unit", by_code[p])
        elif len(file_names.get(p, [])) == 1 and file_names[p][0] != v["code"]:
            target = ("file", file_names[p][0])
        elif len(by_name.get(p, [])) == 1 and not file_names.get(p):
            target = ("unit", by_name[p][0])
        elif len(by_name.get(p, [])) + len(file_names.get(p, [])) > 1:
            err("parent", f"上级组织名称“{p}”对应多个组织,请改填组织编码")
        else:
            err("parent", f"找不到编码或名称为“{p}”的上级组织,或该组织不在您的管理范围内")
        if target and target[0] == "file" and target[1] in by_code:  # a row of the file already in the tree
            u = by_code[target[1]]
            target = ("unit", u) if can_see(actor, u) else None
            if target is None:
                err("parent", f"找不到编码或名称为“{p}”的上级组织,或该组织不在您的管理范围内")
        if target and target[0] == "unit" and not can_manage(actor, target[1]):
            err("parent", f"“{target[1].name}”不在您的管理范围内")
            target = None
        if target:
            parent_kind = (target[1].kind if target[0] == "unit" else
                           file_rows[target[1]]["kind"] if target[0] == "file" else None)
            try:
                services._check_parent(v["kind"], Unit(kind=parent_kind) if parent_kind else None)
            except ValidationError as exc:
                err("parent", ";".join(exc.messages))
        if errs:
            result.errors.extend(errs)
            bad_rows.add(i)
        elif target:
            parent_of[v["code"]] = target

    # the rows against the tree as it is
    creating: dict[str, tuple[roster_files.SourceRow, dict[str, Any]]] = {}
    for i, (src, v) in enumerate(parsed):
        if i in bad_rows:
            continue
        existing = by_code.get(v["code"])
        kind_label = str(UnitKind(v["kind"]).label)
        target = parent_of[v["code"]]
        parent_text = (target[1].name if target[0] == "unit" else
                       file_rows[target[1]]["name"] if target[0] == "file" else "(无)")
        parent_unit = target[1] if target[0] == "unit" else by_code.get(target[1]) if target[0] == "file" else None
        if existing is None:
            creating[v["code"]] = (src, v)
            result.to_create.append(UnitRow(src.sheet, src.row, v["code"], v["name"], kind_label, parent_text))
            continue
        if not can_see(actor, existing):
            result.errors.append(RowError(src.row, src.labels.get("code", LABELS["code"]),
                                          f"组织编码 {v['code']} 已被其他组织使用", src.sheet))
            continue
        diffs = []
        if existing.name != v["name"]:
            diffs.append(roster.Difference(src.labels["name"], existing.name, v["name"]))
        if existing.kind != v["kind"]:
            diffs.append(roster.Difference(src.labels["kind"], existing.get_kind_display(), kind_label))
        if "parent" in src.labels:
            same_parent = existing.parent_id == (parent_unit.pk if parent_unit else None)
            if not same_parent:
                diffs.append(roster.Difference(src.labels["parent"], existing.parent.name if existing.parent else "(无)",
                                               parent_text))
        for f in ("founded_on", "term_start"):
            if f in src.labels and getattr(existing, f) != v[f]:
                diffs.append(roster.Difference(src.labels[f], _date_shown(getattr(existing, f)), _date_shown(v[f])))
        if diffs:
            result.differs.append(UnitDiffers(src.sheet, src.row, existing.code, existing.name, tuple(diffs)))
        else:
            result.same.append(UnitRow(src.sheet, src.row, v["code"], v["name"], kind_label, parent_text))

    # a new unit under a file row that is not created (an error, or one already in the tree)
    order: list[str] = []
    state: dict[str, int] = {}

    def visit(code: str, trail: tuple[str, ...]) -> bool:
        if state.get(code) == 2:
            return True
        if code in trail:
            return False
        src, _v = creating[code]
        kind, target = parent_of[code]
        if kind == "file" and target in creating and not visit(target, (*trail, code)):
            return False
        if kind == "file" and target not in creating and by_code.get(target) is None:
            return False  # its parent row has an error
        state[code] = 2
        order.append(code)
        return True

    for code, (src, _v) in creating.items():
        if not visit(code, ()):
            result.errors.append(RowError(src.row, src.labels.get("parent", LABELS["parent"]),
                                          "上级组织有错误或形成循环(一个组织不能是自己的上级),请先改正上级组织所在的行",
                                          src.sheet))
    if result.errors:
        return result
    for code in order:
        _src, v = creating[code]
        kind, target = parent_of[code]
        parent = target if kind == "unit" else by_code.get(target) if kind == "file" else None
        result.rows.append({**v, "parent": parent, "parent_code": target if kind == "file" else None})
    return result


def _create(rows: list[dict[str, Any]], actor) -> None:
    """Every unit through ``services.unit_create``, parents first (a parent of the file by its code)."""
    made: dict[str, Unit] = {}
    for row in rows:
        row = dict(row)
        parent_code = row.pop("parent_code")
        parent = made.get(parent_code) if parent_code else row["parent"]
        row["parent"] = parent if parent is not None else (Unit.objects.get(code=parent_code) if parent_code else None)
        made[row["code"]] = services.unit_create(actor=actor, **row)


SHEET = staged_import.SheetImport(
    UnitImportResult, spec, _check, _create, nothing="文件中没有需要新建的党组织,无需导入。",
    stale=staged_import.stale_notice("组织架构", "例如有人已被编入、调出或信息已更正"))

#: 上传 → 预览 → 确认导入, each the act ``unit.create``
STEPS = staged_import.steps(
    SHEET, "unit.create", module=__name__, names=("stage_units", "preview_units", "confirm_units"), what="unit list")
stage_units, preview_units, confirm_units = STEPS
