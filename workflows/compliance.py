"""执行 vs 规定 — the compliance matrix: unit × obligation × period → status, with rates.

Set-based: one query for the whole subtree and year, however many units and periods (the
number of queries is asserted in the tests). Event-triggered occurrences are counted per
unit and obligation, with the event date as their period.
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db.models import Max
from django.utils import timezone

from qms.models import Unit
from workflows.models import TALLY_UNDATED as UNDATED
from workflows.models import Bucket, Occurrence, OccurrenceTally, State, SubtreeTally
from workflows.periods import Slot

DONE_STATES = (State.HELD, State.CHECKED, State.CLOSED)
#: Units in a subtree above which pages show one rolled-up row per directly subordinate unit.
ROLLUP_ABOVE = 60
STATUS_LABELS = {"on_time": "按时完成", "late": "逾期完成", "missed": "未开展", "not_due": "未到期", "cancelled": "已取消"}


def cell_status(state: str, late: bool, due: dt.date, today: dt.date) -> str:
    if state in DONE_STATES:
        return "late" if late else "on_time"
    if state == State.CANCELLED:
        return "cancelled"
    if state == State.MISSED or due < today:
        return "missed"
    return "not_due"


@dataclass
class Rate:
    on_time: int = 0
    late: int = 0
    missed: int = 0
    not_due: int = 0
    cancelled: int = 0

    def add(self, status: str) -> None:
        setattr(self, status, getattr(self, status) + 1)

    def __iadd__(self, other: Rate) -> Rate:
        self.on_time += other.on_time
        self.late += other.late
        self.missed += other.missed
        self.not_due += other.not_due
        self.cancelled += other.cancelled
        return self

    @property
    def due(self) -> int:
        return self.on_time + self.late + self.missed

    @property
    def rate(self) -> float | None:
        """Share of what was due that was done (on time or late); None when nothing was due."""
        return None if not self.due else round((self.on_time + self.late) / self.due, 4)

    @property
    def on_time_rate(self) -> float | None:
        return None if not self.due else round(self.on_time / self.due, 4)

    def as_dict(self) -> dict:
        return {"on_time": self.on_time, "late": self.late, "missed": self.missed, "not_due": self.not_due,
                "cancelled": self.cancelled, "rate": self.rate, "on_time_rate": self.on_time_rate}


@dataclass
class Matrix:
    root: Unit
    year: int
    cells: list[dict] = field(default_factory=list)
    by_unit: dict[str, Rate] = field(default_factory=lambda: defaultdict(Rate))
    by_obligation: dict[str, Rate] = field(default_factory=lambda: defaultdict(Rate))
    overall: Rate = field(default_factory=Rate)
    units: dict[str, str] = field(default_factory=dict)
    obligations: dict[str, str] = field(default_factory=dict)
    by_unit_obligation: dict[tuple[str, str], Rate] = field(default_factory=lambda: defaultdict(Rate))

    def as_dict(self) -> dict:
        return {
            "unit": self.root.code, "year": self.year,
            "overall": self.overall.as_dict(),
            "by_unit": {code: {"name": self.units[code], **r.as_dict()} for code, r in sorted(self.by_unit.items())},
            "by_obligation": {k: {"title": self.obligations[k], **r.as_dict()} for k, r in sorted(self.by_obligation.items())},
            "cells": self.cells,
        }


def compliance(root: Unit, year: int, *, today: dt.date | None = None, cells: bool = True) -> Matrix:
    """The matrix for ``root``'s subtree and a calendar year (one SQL query).

    ``cells=False`` gives only the rates (per unit, per obligation, per unit × obligation and
    overall), counted by the database with a ``GROUP BY`` — for dashboards, the programme,
    the management review and large heatmaps, where the individual cells are not shown."""
    today = today or timezone.localdate()
    if not cells:
        return _rates(root, year, today)
    rows = (
        Occurrence.objects.filter(unit__path__startswith=root.path, period_start__year=year)
        .values_list("pk", "unit__code", "unit__name", "obligation_key", "obligation__title", "period_start",
                     "period_end", "seq", "due_date", "state", "late", "event_id")
        .order_by("unit__path", "obligation_key", "period_start", "seq")
    )
    m = Matrix(root=root, year=year)
    # The same few periods recur in every unit: label and format each one once.
    labels: dict[tuple, tuple[str, str, str]] = {}
    by_unit, by_obligation, overall, cells_out = m.by_unit, m.by_obligation, m.overall, m.cells
    for pk, code, name, key, title, start, end, seq, due, state, late, event_id in rows:
        status = cell_status(state, late, due, today)
        m.units[code] = name
        m.obligations[key] = title
        by_unit[code].add(status)
        by_obligation[key].add(status)
        overall.add(status)
        slot = (start, end, seq, due, bool(event_id))
        label = labels.get(slot)
        if label is None:
            text = f"{start:%Y-%m-%d} 事件" if event_id else Slot(start, end, seq, due).label()
            label = labels[slot] = (text, start.isoformat(), due.isoformat())
        cells_out.append({"id": pk, "unit": code, "obligation": key, "period": label[0], "period_start": label[1],
                          "due": label[2], "status": status})
    return m


def _counts(today: dt.date) -> dict:
    """The five status counts as SQL sums over the tally's buckets (the same rules as
    ``cell_status``: an open occurrence past its due date is missed, else not yet due)."""
    from django.db.models import Q, Sum
    from django.db.models.functions import Coalesce

    def total(q: Q):
        return Coalesce(Sum("n", filter=q), 0)

    open_ = Q(bucket=Bucket.OPEN)
    return {"on_time": total(Q(bucket=Bucket.ON_TIME)), "late": total(Q(bucket=Bucket.LATE)),
            "missed": total(Q(bucket=Bucket.MISSED) | (open_ & Q(due_date__lt=today))),
            "not_due": total(open_ & Q(due_date__gte=today)), "cancelled": total(Q(bucket=Bucket.CANCELLED))}


STATUSES = ("on_time", "late", "missed", "not_due", "cancelled")


def _tuples(qs) -> list[tuple]:
    """A ``values_list`` query's rows straight from the cursor. Every column of the tally
    queries is an integer or a key string, so Django's per-value converters (five integer
    casts per row, a quarter of the heatmap's time for its 4,800 rows) change nothing."""
    from django.core.exceptions import EmptyResultSet
    from django.db import connection

    try:
        sql, params = qs.query.sql_with_params()
    except EmptyResultSet:
        return []
    with connection.cursor() as c:
        c.execute(sql, params)
        return c.fetchall()


def _grouped(root: Unit, year: int, today: dt.date) -> list[tuple]:
    """Status counts per (unit id, obligation key), read from the tally (执行计数) that the
    occurrence table's triggers keep: a few rows per unit × obligation, not every occurrence.
    Rows are tuples ``(unit_id, obligation_key, *STATUSES counts, an obligation id)``."""
    return _tuples(OccurrenceTally.objects.filter(unit__path__startswith=root.path, year=year)
                   .values("unit_id", "obligation_key").annotate(**_counts(today), ob=Max("obligation_id"))
                   .values_list("unit_id", "obligation_key", *STATUSES, "ob").order_by())


def _titles(rows: list[dict]) -> dict[int, str]:
    from procedures.models import Obligation

    return dict(Obligation.objects.filter(pk__in={r[-1] for r in rows}).values_list("pk", "title"))


def _rates(root: Unit, year: int, today: dt.date) -> Matrix:
    rows = _grouped(root, year, today)
    units = {pk: (code, name) for pk, code, name in Unit.objects.filter(path__startswith=root.path).values_list("pk", "code", "name")}
    titles = _titles(rows)
    m = Matrix(root=root, year=year)
    for unit_id, key, on_time, late, missed, not_due, cancelled, ob in rows:
        code, name = units[unit_id]
        m.units[code] = name
        if key not in m.obligations:
            m.obligations[key] = titles[ob]
        cell = m.by_unit_obligation[(code, key)] = Rate(on_time, late, missed, not_due, cancelled)
        m.by_unit[code] += cell
        m.by_obligation[key] += cell
        m.overall += cell
    return m


def rates_by_child(root: Unit, year: int, *, today: dt.date | None = None) -> tuple[dict[tuple[str, str], Rate], dict[str, str]]:
    """Rates per (directly subordinate unit's path, obligation key), each child's whole subtree
    rolled up: the rows of a committee-wide heatmap. Read from the subtree tally of each child
    (everything below it) and the tally of the child itself — a few rows per child and
    obligation, however many branches lie below. Occurrences of ``root`` itself come under its
    own path. Returns the rates and the obligations' titles (four queries, whatever the size
    of the tree)."""
    today = today or timezone.localdate()
    children = dict(Unit.objects.filter(parent=root).values_list("pk", "path"))
    below = (SubtreeTally.objects.filter(ancestor_id__in=children, year=year).values("ancestor_id", "obligation_key")
             .annotate(**_counts(today), ob=Max("obligation_id"))
             .values_list("ancestor_id", "obligation_key", *STATUSES, "ob").order_by())
    own = (OccurrenceTally.objects.filter(unit_id__in=[*children, root.pk], year=year).values("unit_id", "obligation_key")
           .annotate(**_counts(today), ob=Max("obligation_id"))
           .values_list("unit_id", "obligation_key", *STATUSES, "ob").order_by())
    paths = {**children, root.pk: root.path}
    rows = [*_tuples(below), *_tuples(own)]
    titles = _titles(rows)
    out: dict[tuple[str, str], Rate] = {}
    names: dict[str, str] = {}
    for unit_id, key, on_time, late, missed, not_due, cancelled, ob in rows:
        if key not in names:
            names[key] = titles[ob]
        cell = Rate(on_time, late, missed, not_due, cancelled)
        where = (paths[unit_id], key)
        if where in out:
            out[where] += cell
        else:
            out[where] = cell
    return out, names


def totals_by_child(rates: dict[tuple[str, str], Rate]) -> tuple[dict[str, Rate], Rate]:
    """``rates_by_child``'s cells summed per row (subordinate unit's path) and overall."""
    per_row: dict[str, Rate] = defaultdict(Rate)
    overall = Rate()
    for (path, _key), r in rates.items():
        per_row[path] += r
        overall += r
    return dict(per_row), overall


def _recount() -> dict[tuple, int]:
    """The unit tally recounted from the occurrences with the ORM (not the triggers' SQL):
    key (unit_id, obligation_id, obligation_key, year, bucket, due_date) → count."""
    from django.db.models import Case, Count, DateField, F, Value, When
    from django.db.models.functions import ExtractYear

    bucket = Case(When(state__in=DONE_STATES, late=True, then=Value(Bucket.LATE.value)),
                  When(state__in=DONE_STATES, then=Value(Bucket.ON_TIME.value)),
                  When(state=State.MISSED, then=Value(Bucket.MISSED.value)),
                  When(state=State.CANCELLED, then=Value(Bucket.CANCELLED.value)), default=Value(Bucket.OPEN.value))
    due = Case(When(state__in=(*DONE_STATES, State.MISSED, State.CANCELLED), then=Value(dt.date.fromisoformat(UNDATED))),
               default=F("due_date"), output_field=DateField())
    return {tuple(r[:6]): r[6] for r in Occurrence.objects.annotate(year=ExtractYear("period_start"), bucket=bucket, due=due)
            .values_list("unit_id", "obligation_id", "obligation_key", "year", "bucket", "due").annotate(n=Count("id"))
            .order_by()}


def tally_drift(*, limit: int = 20) -> list[str]:
    """Where the tally (执行计数) differs from a recount of the occurrences themselves — empty
    when they agree. Recounted with the ORM (not the triggers' SQL), so it checks them."""
    fields = ("unit_id", "obligation_id", "obligation_key", "year", "bucket", "due_date")
    counted = _recount()
    kept = {tuple(r[:6]): r[6] for r in OccurrenceTally.objects.filter(n__gt=0).values_list(*fields, "n")}
    out = _differences("执行计数", fields, counted, kept, limit)
    # The subtree tally: every superior named by a unit's path holds the sum of its counts.
    paths = dict(Unit.objects.values_list("pk", "path"))
    expected: dict[tuple, int] = defaultdict(int)
    for (unit_id, *rest), n in counted.items():
        path = paths[unit_id]
        for i in range(9, len(path) - 8, 9):
            expected[(int(path[i - 9:i - 1]), *rest)] += n
    below = {tuple(r[:6]): r[6] for r in SubtreeTally.objects.values_list("ancestor_id", *fields[1:], "n")}
    return out + _differences("下级汇总计数", ("ancestor_id", *fields[1:]), expected, below, limit - len(out))


def _differences(what: str, fields: tuple, counted: dict, kept: dict, limit: int) -> list[str]:
    out: list[str] = []
    for key in sorted(counted.keys() | kept.keys(), key=str):
        if len(out) >= limit:
            break
        if counted.get(key, 0) != kept.get(key, 0):
            out.append(f"{what} {dict(zip(fields, key, strict=True))}: 计数 {kept.get(key, 0)},实际 {counted.get(key, 0)}")
    return out


def tally_rebuild() -> int:
    """Recount both tallies from the occurrences (after a restore, or if ``tally_drift`` ever
    finds a difference); on PostgreSQL the occurrence and unit tables are locked against
    writes meanwhile. The subtree tally is rebuilt by its own triggers as the unit tally's rows
    go in. Returns the number of unit tally rows. Afterwards PostgreSQL's statistics of the two
    rewritten tables are refreshed: with none, the triggers' upserts were planned badly and a
    single transition cost 1.4 ms more instead of 0.3–0.5 ms (docs/benchmarks.md §1)."""
    from django.db import connection, transaction

    with transaction.atomic():
        if connection.vendor == "postgresql":
            with connection.cursor() as c:
                c.execute("LOCK TABLE workflows_occurrence, qms_unit IN SHARE MODE")
        OccurrenceTally.objects.all().delete()
        SubtreeTally.objects.all().delete()
        counted = _recount()
        OccurrenceTally.objects.bulk_create(
            [OccurrenceTally(unit_id=k[0], obligation_id=k[1], obligation_key=k[2], year=k[3], bucket=k[4], due_date=k[5], n=n)
             for k, n in counted.items()], batch_size=5000)
    if connection.vendor == "postgresql" and not connection.in_atomic_block:
        with connection.cursor() as c:
            c.execute("ANALYZE workflows_occurrencetally, workflows_subtreetally")
    return len(counted)
