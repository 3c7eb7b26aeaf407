"""往年会议记录导入 — meetings held before the system was used, from an office's own list, as history.

A committee starting with the product has last year's 三会一课 in a ledger of its own: for each
meeting the 党组织, the 日期, the 类别 (支部党员大会, 支委会, 党小组会, 党课, 主题党日 … — the
office's words mapped to the procedure library's obligations in ``history_import.toml``), the
主题/议题 and the 应到/实到人数. The file is read like a roster (``qms.roster_files``), kept on
the server between preview and confirm (``qms.staged_import``) and classified like the roster:
meetings to record, unchanged (a meeting of that obligation already recorded for that unit on
that day), errors in the file's own rows and headers.

Each meeting becomes what the compliance views count: an ``Occurrence`` of the obligation in
the period the day falls in (the same slot the scheduler lays out, the first one free), in state
checked (已检查: a past record is frozen; a change is an amendment with a reason) with its
``held_on``, topic and ``late`` as for any record, marked as imported history (``imported_by``,
``imported_at``: it went through no checker in the system, and the pages say so), and a
``Record`` holding the head counts (``expected_count``, ``present_count``) instead of a line per
member. A day in the future or before the unit was founded is an error; so is a period whose
slot the system already holds in another state (a 未开展 gap is not rewritten by a file — the
occurrence's own page handles it). Confirm writes everything in one transaction, each with its
ledger entry, only if the file, checked again, still gives the preview shown.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

from django.utils import timezone

from procedures.models import Obligation
from procedures.rules import effective_rules
from qms import ledger, roster, roster_files, staged_import
from qms.models import Unit
from qms.permissions import act, managed_unit
from qms.scoping import can_see
from qms.staged_import import RowError
from workflows.models import Occurrence, Record, State
from workflows.periods import slots_for

_RULES = Path(__file__).resolve().parent / "history_import.toml"
LABELS = {"unit": "党组织", "date": "日期", "category": "类别", "topic": "主题/议题", "expected": "应到人数",
          "present": "实到人数", "external_id": "外部编号"}
#: the states of a meeting that was held
HELD = (State.HELD, State.CHECKED, State.CLOSED)

def spec() -> roster_files.Rules:
    return roster_files.load_rules(_RULES)


@cache
def categories() -> dict[str, tuple[str, ...]]:
    """A meeting's name as offices write it → the obligation keys it may be, in order."""
    data = tomllib.loads(_RULES.read_text(encoding="utf-8"))
    return {word: tuple(keys) for word, keys in data["categories"].items()}


@dataclass(frozen=True)
class MeetingRow:
    sheet: str
    row: int
    unit: str
    date: str
    category: str  # the obligation's title
    topic: str
    expected: str
    present: str


@dataclass
class HistoryImportResult(staged_import.StagedResult):
    to_create: list[MeetingRow] = field(default_factory=list)
    same: list[MeetingRow] = field(default_factory=list)
    differs: list[MeetingDiffers] = field(default_factory=list)


@dataclass(frozen=True)
class MeetingDiffers:
    """A meeting another system sent again (by its 外部编号) with other values than the system
    holds: never changed by an import; a correction is an amendment with a reason."""

    sheet: str
    row: int
    occurrence_id: int
    name: str
    differences: tuple[roster.Difference, ...]


def _count(value: Any) -> int | None:
    text = roster._text(value).removesuffix("人").strip()
    if not text:
        return None
    if not text.isdigit():
        raise ValueError(f"人数“{text}”应为整数")
    return int(text)


def _obligation(unit: Unit, text: str, cache_: dict[int, dict[str, Obligation]]) -> Obligation | None:
    """The effective obligation of ``unit`` the office's word names (or its own title, or its key)."""
    if unit.pk not in cache_:
        cache_[unit.pk] = {r.obligation.key: r.obligation for r in effective_rules(unit) if not r.obligation.event}
    effective = cache_[unit.pk]
    if text in effective:  # a program names the obligation by its key (the data interface's procedures)
        return effective[text]
    for key in categories().get(text, ()):
        if key in effective:
            return effective[key]
    return next((o for o in effective.values() if o.title == text), None)


def _parse(rows: list[roster_files.SourceRow], actor, result: HistoryImportResult) -> list[tuple[roster_files.SourceRow, dict[str, Any]]]:
    """Each row read and checked on its own (its unit in scope, a past day, a meeting the unit must hold,
    the head counts): the rows that passed with their values; the others' errors go to ``result``."""
    today = timezone.localdate()
    units = roster._Units(actor, rows)
    rules: dict[int, dict[str, Obligation]] = {}
    parsed: list[tuple[roster_files.SourceRow, dict[str, Any]]] = []
    for src in rows:
        raw, errs = src.values, []

        def err(f: str, reason: str, src=src, errs=errs) -> None:
            errs.append(RowError(src.row, src.labels.get(f, LABELS[f]), reason, src.sheet))

        unit_text = roster._text(raw.get("unit"))
        unit, why = units.for_act(unit_text, "record.save", f"您不能为“{unit_text}”登记记录")
        if why:
            err("unit", why)
        try:
            day = roster._date(raw.get("date"), src.date1904)
        except ValueError as exc:
            day = None
            err("date", str(exc))
        else:
            if day is None:
                err("date", "日期不能为空")
            elif day > today:
                err("date", f"{src.labels.get('date', LABELS['date'])}不能晚于今天:这里只导入已经开展的会议")
            elif unit is not None and unit.founded_on and day < unit.founded_on:
                err("date", f"早于{unit.name}的成立日期({unit.founded_on:%Y-%m-%d})")
        category = roster._text(raw.get("category"))
        ob = None
        if not category:
            err("category", "类别不能为空")
        elif unit is not None:
            ob = _obligation(unit, category, rules)
            if ob is None:
                known = "、".join(w for w, keys in categories().items() if any(k in rules[unit.pk] for k in keys))
                err("category", f"“{category}”不是{unit.name}须开展的会议或活动" + (f";可填:{known}" if known else ""))
        counts: dict[str, int | None] = {}
        for f in ("expected", "present"):
            try:
                counts[f] = _count(raw.get(f))
            except ValueError as exc:
                counts[f] = None
                err(f, str(exc))
        if counts["expected"] is not None and counts["present"] is not None and counts["present"] > counts["expected"]:
            err("present", "实到人数不能多于应到人数")
        topic = " ".join(roster._text(raw.get("topic")).split())
        if len(topic) > Occurrence._meta.get_field("topic").max_length:
            err("topic", f"主题/议题过长(不超过 {Occurrence._meta.get_field('topic').max_length} 字)")
        if errs:
            result.errors.extend(errs)
            continue
        parsed.append((src, {"unit": unit, "obligation": ob, "held_on": day, "topic": topic, **counts}))
    return parsed


def _shown(src: roster_files.SourceRow, v: dict[str, Any]) -> MeetingRow:
    """A row as the preview and the data interface list it."""
    return MeetingRow(src.sheet, src.row, v["unit"].name, v["held_on"].isoformat(), v["obligation"].title, v["topic"],
                      "" if v["expected"] is None else str(v["expected"]), "" if v["present"] is None else str(v["present"]))


def _classify(parsed: list[tuple[roster_files.SourceRow, dict[str, Any]]], result: HistoryImportResult) -> None:
    """The rows against what is recorded: the same meeting (unchanged), or the first free slot of its
    period (to record); a period whose slots are taken is an error."""
    held = {(o.unit_id, o.obligation_key, o.held_on) for o in Occurrence.objects.filter(
        unit__in={v["unit"].pk for _s, v in parsed}, state__in=HELD, held_on__isnull=False).only(
        "unit_id", "obligation_key", "held_on")}
    taken: dict[tuple[int, str, dt.date, int], str] = {}
    for o in Occurrence.objects.filter(unit__in={v["unit"].pk for _s, v in parsed}, event__isnull=True).only(
            "unit_id", "obligation_key", "period_start", "seq", "state"):
        taken[(o.unit_id, o.obligation_key, o.period_start, o.seq)] = o.state
    in_file: dict[tuple[int, str, dt.date], roster_files.SourceRow] = {}
    for src, v in parsed:
        unit, ob, day = v["unit"], v["obligation"], v["held_on"]
        shown = _shown(src, v)
        if (unit.pk, ob.key, day) in held:
            result.same.append(shown)
            continue
        if (unit.pk, ob.key, day) in in_file:
            result.errors.append(RowError(src.row, src.labels.get("date", LABELS["date"]), f"与{roster._where(in_file[(unit.pk, ob.key, day)])}"
                                          "是同一次会议", src.sheet))
            continue
        in_file[(unit.pk, ob.key, day)] = src
        slots = [s for s in slots_for(count=ob.count, per=ob.per, every_months=ob.every_months, before=ob.before,
                                      preferred_period=ob.preferred_period, grace_days=ob.grace_days,
                                      start=dt.date(day.year, 1, 1), end=day) if s.start <= day <= s.end]
        free = next((s for s in slots if (unit.pk, ob.key, s.start, s.seq) not in taken), None)
        if free is None:
            states = [taken[(unit.pk, ob.key, s.start, s.seq)] for s in slots]
            if not slots:
                why = f"“{ob.title}”没有按期开展的要求,不能作为往年记录导入"
            elif any(s not in HELD for s in states):
                why = (f"{unit.name}该期的“{ob.title}”已在系统中(状态:{'、'.join(str(State(s).label) for s in states)}),"
                       "请在该事项的页面登记,不能由文件改写")
            else:
                why = f"{unit.name}该期应开展的“{ob.title}”({len(slots)} 次)已全部有记录"
            result.errors.append(RowError(src.row, src.labels.get("date", LABELS["date"]), why, src.sheet))
            continue
        taken[(unit.pk, ob.key, free.start, free.seq)] = "file"
        result.to_create.append(shown)
        result.rows.append({**v, "period_start": free.start, "period_end": free.end, "seq": free.seq, "due_date": free.due})


def _check(rows: list[roster_files.SourceRow], actor) -> HistoryImportResult:
    result = HistoryImportResult()
    _classify(_parse(rows, actor, result), result)
    if result.errors:
        result.rows = []
    return result


def _record(v: dict[str, Any], actor, now: dt.datetime) -> Occurrence:
    ob: Obligation = v["obligation"]
    occ = Occurrence.objects.create(
        unit=v["unit"], obligation=ob, obligation_key=ob.key, period_start=v["period_start"], period_end=v["period_end"],
        seq=v["seq"], due_date=v["due_date"], state=State.CHECKED, topic=v["topic"], held_on=v["held_on"],
        late=v["held_on"] > v["due_date"], updated_by=actor, imported_by=actor, imported_at=now,
        external_id=v.get("external_id") or None)
    reason = EXTERNAL_REASON if v.get("external_id") else HISTORY_REASON
    ledger.record("occurrence.import_history", occ, actor=actor, reason=reason)
    if ob.form_id:
        rec = Record.objects.create(occurrence=occ, form_id=ob.form_id, expected_count=v["expected"],
                                    present_count=v["present"])
        ledger.record("record.import_history", rec, actor=actor, reason=reason)
    return occ


HISTORY_REASON = "按往年会议记录导入:系统启用前已开展,未经系统检查"
EXTERNAL_REASON = "经数据接口从其他系统导入:已在其他系统登记,未经本系统检查"


def _record_all(rows: list[dict[str, Any]], actor) -> None:
    """Every meeting with its record, all at the same time of import; a period's slot taken
    meanwhile (the scheduler, another import) is an ``IntegrityError``: nothing is saved."""
    now = timezone.now()
    for v in rows:
        _record(v, actor, now)


SHEET = staged_import.SheetImport(
    HistoryImportResult, spec, _check, _record_all, nothing="文件中没有需要导入的会议记录,无需导入。",
    stale=staged_import.stale_notice("系统中的记录", "例如有人已登记了其中的会议"))

#: 上传 → 预览 → 确认导入, each the act ``record.save``
STEPS = staged_import.steps(
    SHEET, "record.save", module=__name__, names=("stage_history", "preview_history", "confirm_history"),
    what="list of past meetings")
stage_history, preview_history, confirm_history = STEPS


# ------------------------------------------------------------------ from another system, by 外部编号

EXTERNAL_ID_MAX = Occurrence._meta.get_field("external_id").max_length


def _shown_count(n: int | None) -> str:
    return "(空)" if n is None else str(n)


def _meeting_name(occ: Occurrence) -> str:
    return f"{occ.unit.name} {occ.held_on or ''} {occ.obligation.title}".replace("  ", " ")


def _against(occ: Occurrence, v: dict[str, Any], labels: dict[str, str]) -> tuple[roster.Difference, ...]:
    """The fields of a meeting the system holds that the row gives otherwise, side by side."""
    rec = getattr(occ, "record", None)
    pairs = [("unit", occ.unit.name, v["unit"].name), ("date", str(occ.held_on or "(空)"), v["held_on"].isoformat()),
             ("category", occ.obligation.title, v["obligation"].title), ("topic", occ.topic or "(空)", v["topic"] or "(空)"),
             ("expected", _shown_count(rec.expected_count if rec else None), _shown_count(v["expected"])),
             ("present", _shown_count(rec.present_count if rec else None), _shown_count(v["present"]))]
    return tuple(roster.Difference(labels.get(f, LABELS[f]), held, sent) for f, held, sent in pairs if held != sent)


def check_external(rows: list[roster_files.SourceRow], actor) -> HistoryImportResult:
    """Meetings another system sends as data (the REST API), each with its own 外部编号: a number
    the system already holds is that meeting (unchanged, or differing field by field); a new one
    is classified as a row of a file of past meetings — except that a meeting recorded here
    without that number, on that day, differs (the two systems disagree on what it is)."""
    result = HistoryImportResult()
    ids: dict[str, roster_files.SourceRow] = {}  # 外部编号 → its row
    kept = []
    for src in rows:
        ext = roster._text(src.values.get("external_id"))
        column = src.labels.get("external_id", LABELS["external_id"])
        if not ext:
            result.errors.append(RowError(src.row, column, "外部编号不能为空", src.sheet))
        elif len(ext) > EXTERNAL_ID_MAX:
            result.errors.append(RowError(src.row, column, f"外部编号过长(不超过 {EXTERNAL_ID_MAX} 个字符)", src.sheet))
        elif ext in ids:
            result.errors.append(RowError(src.row, column, f"外部编号与{roster._where(ids[ext])}重复", src.sheet))
        else:
            ids[ext] = src
            kept.append(src)
    known = {o.external_id: o for o in Occurrence.objects.filter(external_id__in=list(ids)).select_related(
        "unit", "obligation", "record")}
    fresh = []
    ext_of = {(src.sheet, src.row): ext for ext, src in ids.items()}
    for src, v in _parse(kept, actor, result):
        ext = ext_of[(src.sheet, src.row)]
        occ = known.get(ext)
        if occ is None:
            fresh.append((src, {**v, "external_id": ext}))
        elif not can_see(actor, occ.unit):
            result.errors.append(RowError(src.row, src.labels.get("external_id", LABELS["external_id"]),
                                          "该外部编号已被其他组织的记录使用", src.sheet))
        elif diffs := _against(occ, v, src.labels):
            result.differs.append(MeetingDiffers(src.sheet, src.row, occ.pk, _meeting_name(occ), diffs))
        else:
            result.same.append(_shown(src, v))
    others = HistoryImportResult()
    _classify(fresh, others)
    result.errors += others.errors
    result.to_create += others.to_create
    result.rows += others.rows
    recorded = {(o.unit_id, o.obligation_key, o.held_on): o for o in Occurrence.objects.filter(
        unit__in={v["unit"].pk for _s, v in fresh}, state__in=HELD, held_on__isnull=False).select_related(
        "unit", "obligation")}
    by_row = {(s.sheet, s.row): (s, v) for s, v in fresh}
    for same in others.same:  # a meeting held that day, recorded here without this number
        src, v = by_row[(same.sheet, same.row)]
        occ = recorded[(v["unit"].pk, v["obligation"].key, v["held_on"])]
        column = src.labels.get("external_id", LABELS["external_id"])
        result.differs.append(MeetingDiffers(src.sheet, src.row, occ.pk, _meeting_name(occ), (
            roster.Difference(column, occ.external_id or "(空)", v["external_id"]),)))
    if result.errors or result.differs:
        result.rows = []
    return result


EXTERNAL = staged_import.SheetImport(
    HistoryImportResult, spec, check_external, _record_all, nothing="没有需要导入的会议记录。",
    stale=staged_import.stale_notice("系统中的记录", "例如有人已登记了其中的会议"))


@act("record.save", unit=managed_unit)
def import_meetings(rows: list[roster_files.SourceRow], *, actor, dry_run: bool = False) -> HistoryImportResult:
    """Meetings sent by another system (``check_external``), recorded all or nothing: not when any
    row is in error or differs from what the system holds, nor on a dry run."""
    return staged_import.apply(EXTERNAL, EXTERNAL.classify(rows, actor=actor), actor=actor, dry=dry_run)
