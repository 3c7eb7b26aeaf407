"""任职记录导入 — positions and terms from an office's own sheet, previewed, then imported all or nothing.

A committee starting with the product keeps a list of who held which office where, and when:
姓名 (and, where the office has it, 身份证号), 党组织 (code or name), 职务 (书记, 组织委员 …,
the office's own words mapped to ``PositionTitle`` in ``rules/position_import.toml``), 任职日期
and, for a term that has ended, 免职日期. The file is read like a roster (``qms.roster_files``),
kept on the server between preview and confirm (``qms.staged_import``) and classified like the
roster: terms to create, unchanged (the same person, organisation, office and start already
recorded), differing from what is recorded (side by side; changes go through the member's
page), errors in the file's own rows and headers.

The person is a member on the roll within the importer's scope, found by 身份证号 when the file
gives one, else by name; a name several members bear is refused naming their organisations,
never their 身份证号. Every row is put through the services that record an office —
``services.position_assign`` and, for a term that has ended, ``services.position_end`` — inside
a transaction that is rolled back, so the preview shows every refusal those services would
give (a second 书记 in office, a 党小组长 outside a 党小组 …) as an error row. Confirm runs them
again for real, all or nothing, only if the file, checked again, still gives the preview shown;
each term writes its ledger entries as one entered by hand.
"""
from __future__ import annotations

import contextlib
import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from django.core.exceptions import ValidationError
from django.utils import timezone

from qms import roster, roster_files, services, staged_import
from qms.models import Member, Membership, MemberStatus, Position, PositionTitle, Unit
from qms.scoping import can_manage
from qms.staged_import import RowError

_RULES = Path(__file__).resolve().parent / "rules" / "position_import.toml"
LABELS = {"name": "姓名", "id_number": "身份证号", "unit": "党组织", "title": "职务", "start": "任职日期",
          "end": "免职日期"}
TITLES = {str(label): value for value, label in PositionTitle.choices}
#: the reason written on the ledger for a term that ended before the import
END_REASON = "按任职记录表导入:任期已于免职日期结束"

def spec() -> roster_files.Rules:
    return roster_files.load_rules(_RULES)


@dataclass(frozen=True)
class PositionRow:
    sheet: str
    row: int
    name: str
    unit: str
    title: str
    start: str
    end: str


@dataclass(frozen=True)
class PositionDiffers:
    sheet: str
    row: int
    name: str
    unit: str
    title: str
    member_pk: int
    differences: tuple[roster.Difference, ...]


@dataclass
class PositionImportResult(staged_import.StagedResult):
    to_create: list[PositionRow] = field(default_factory=list)
    same: list[PositionRow] = field(default_factory=list)
    differs: list[PositionDiffers] = field(default_factory=list)
    rows: list[dict[str, Any]] = field(default_factory=list, repr=False)  # in the order they are recorded


def _shown(d: dt.date | None) -> str:
    return d.isoformat() if d else "(在任)"


class _Members:
    """Members on the roll whose organisation the importer manages, by 身份证号 or by name; one
    outside that scope is answered like an unknown one."""

    def __init__(self, actor, rows: list[roster_files.SourceRow]):
        self.actor = actor
        ids, names = set(), set()
        for r in rows:
            with contextlib.suppress(ValueError):
                ids.add(roster._id_number(r.values.get("id_number")))
            names.add(roster._name(r.values.get("name")))
        spans = (Membership.objects.filter(end__isnull=True, member__status=MemberStatus.ACTIVE)
                 .filter(member__id_number__in=ids - {""}) | Membership.objects.filter(
                     end__isnull=True, member__status=MemberStatus.ACTIVE, member__name__in=names - {""}))
        self.by_id: dict[str, tuple[Member, Unit]] = {}
        self.by_name: dict[str, list[tuple[Member, Unit]]] = {}
        for ms in spans.select_related("member", "unit"):
            if not can_manage(actor, ms.unit):
                continue
            self.by_id[ms.member.id_number] = (ms.member, ms.unit)
            self.by_name.setdefault(ms.member.name, []).append((ms.member, ms.unit))

    def find(self, name: str, id_number: str, unit: Unit | None) -> tuple[Member | None, str]:
        if id_number:
            found = self.by_id.get(id_number)
            if found is None:
                return None, "找不到该身份证号的在册党员,或其不在您的管理范围内"
            if name and found[0].name != name:
                return None, f"该身份证号的党员姓名是“{found[0].name}”,与文件中的“{name}”不符"
            return found[0], ""
        seen = self.by_name.get(name, [])
        if len(seen) > 1 and unit is not None:  # those within the organisation of the office first
            inside = [s for s in seen if s[1].path.startswith(unit.path)]
            seen = inside or seen
        if len(seen) == 1:
            return seen[0][0], ""
        if seen:
            where = "、".join(sorted(u.name for _m, u in seen))
            return None, f"姓名“{name}”对应 {len(seen)} 名党员(所在党组织:{where});请填写身份证号以区分"
        return None, f"找不到名为“{name}”的在册党员,或其不在您的管理范围内"


def _check(rows: list[roster_files.SourceRow], actor) -> PositionImportResult:
    result = PositionImportResult()
    today = timezone.localdate()
    values = spec().values.get("title", {})
    units = roster._Units(actor, rows)
    members = _Members(actor, rows)
    parsed: list[tuple[roster_files.SourceRow, dict[str, Any]]] = []
    for src in rows:
        raw, errs = src.values, []

        def err(f: str, reason: str, src=src, errs=errs) -> None:
            errs.append(RowError(src.row, src.labels.get(f, LABELS[f]), reason, src.sheet))

        name = roster._name(raw.get("name"))
        try:
            id_number = roster._id_number(raw.get("id_number"))
        except ValueError as exc:
            id_number = ""
            err("id_number", str(exc))
        unit_text = roster._text(raw.get("unit"))
        unit, why = units.for_act(unit_text, "position.assign", f"您不能在“{unit_text}”任命职务")
        if why:
            err("unit", why)
        if not name and not id_number:
            err("name", "姓名不能为空")
        else:
            member, why = members.find(name, id_number, unit)
            if why:
                err("id_number" if id_number and "身份证号" in why else "name", why)
        title_text = roster._text(raw.get("title"))
        title = TITLES.get(values.get(title_text, title_text), "")
        if not title:
            err("title", f"职务“{title_text}”无法识别,应为{'、'.join(TITLES)}之一" if title_text else "职务不能为空")
        dates: dict[str, dt.date | None] = {}
        for f in ("start", "end"):
            try:
                dates[f] = roster._date(raw.get(f), src.date1904)
            except ValueError as exc:
                dates[f] = None
                err(f, str(exc))
            else:
                if dates[f] and dates[f] > today:
                    err(f, f"{src.labels.get(f, LABELS[f])}不能晚于今天")
        if not dates["start"] and not any(e.column == src.labels.get("start") for e in errs):
            err("start", "任职日期不能为空")
        if dates["start"] and dates["end"] and dates["end"] < dates["start"]:
            err("end", "免职日期不能早于任职日期")
        if errs:
            result.errors.extend(errs)
            continue
        parsed.append((src, {"member": member, "unit": unit, "title": title, **dates}))

    # the rows against the offices already recorded
    seen_keys: dict[tuple, roster_files.SourceRow] = {}
    creating: list[tuple[roster_files.SourceRow, dict[str, Any]]] = []
    for src, v in parsed:
        key = (v["member"].pk, v["unit"].pk, v["title"], v["start"])
        if key in seen_keys:
            result.errors.append(RowError(src.row, src.labels["title"], f"与{roster._where(seen_keys[key])}是同一任职记录",
                                          src.sheet))
            continue
        seen_keys[key] = src
        shown = PositionRow(src.sheet, src.row, v["member"].name, v["unit"].name, str(PositionTitle(v["title"]).label),
                            v["start"].isoformat(), v["end"].isoformat() if v["end"] else "")
        recorded = list(Position.objects.filter(member=v["member"], unit=v["unit"], title=v["title"]).order_by("start"))
        exact = next((p for p in recorded if p.start == v["start"]), None)
        overlapping = next((p for p in recorded if (p.end is None or p.end >= v["start"])
                            and (v["end"] is None or v["end"] >= p.start)), None)
        existing = exact or overlapping
        if existing is None:
            creating.append((src, v))
            result.to_create.append(shown)
            continue
        diffs = []
        if existing.start != v["start"]:
            diffs.append(roster.Difference(src.labels["start"], existing.start.isoformat(), v["start"].isoformat()))
        if existing.end != v["end"] and ("end" in src.labels or existing.start != v["start"]):
            diffs.append(roster.Difference(src.labels.get("end", LABELS["end"]), _shown(existing.end), _shown(v["end"])))
        if diffs:
            result.differs.append(PositionDiffers(src.sheet, src.row, shown.name, shown.unit, shown.title,
                                                  v["member"].pk, tuple(diffs)))
        else:
            result.same.append(shown)
    if result.errors:
        return result

    # terms that ended first, then those still held, each in order of its start: a 书记 who
    # left in 2021 is recorded before the one who took over
    creating.sort(key=lambda sv: (sv[1]["end"] is None, sv[1]["start"], sv[0].sheet, sv[0].row))
    refusals = staged_import.attempt((v for _src, v in creating), lambda v: _record(v, actor), dry=True)
    for (src, _v), why in zip(creating, refusals, strict=True):
        if why:
            result.errors.append(RowError(src.row, src.labels["title"], why, src.sheet))
    if result.errors:
        return result
    result.rows = [dict(v) for _src, v in creating]
    return result


def _record(v: dict[str, Any], actor) -> Position:
    p = services.position_assign(actor=actor, member=v["member"], unit=v["unit"], title=v["title"], start=v["start"],
                                 past_term=v.get("end") is not None)
    if v["end"] is not None:
        p = services.position_end(p, actor=actor, end=v["end"], reason=END_REASON)
    return p


def _record_all(rows: list[dict[str, Any]], actor) -> None:
    """Every term through the services, in order; refused as a whole if any one is."""
    refusals = staged_import.attempt(rows, lambda v: _record(v, actor), dry=False)
    if any(refusals):
        raise ValidationError([r for r in refusals if r])


SHEET = staged_import.SheetImport(
    PositionImportResult, spec, _check, _record_all, nothing="文件中没有需要新建的任职记录,无需导入。",
    stale=staged_import.stale_notice("任职记录", "例如有人已被任命、免职或调出"))

#: 上传 → 预览 → 确认导入, each the act ``position.assign``
STEPS = staged_import.steps(
    SHEET, "position.assign", module=__name__, names=("stage_positions", "preview_positions", "confirm_positions"),
    what="list of offices")
stage_positions, preview_positions, confirm_positions = STEPS
