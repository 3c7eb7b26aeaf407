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
from workflows.models import Occurrence, State
from workflows.periods import Slot

DONE_STATES = (State.HELD, State.CHECKED, State.CLOSED)
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
    for pk, code, name, key, title, start, end, seq, due, state, late, event_id in rows:
        status = cell_status(state, late, due, today)
        m.units[code] = name
        m.obligations[key] = title
        m.by_unit[code].add(status)
        m.by_obligation[key].add(status)
        m.overall.add(status)
        label = f"{start:%Y-%m-%d} 事件" if event_id else Slot(start, end, seq, due).label()
        m.cells.append({"id": pk, "unit": code, "obligation": key, "period": label, "period_start": start.isoformat(),
                        "due": due.isoformat(), "status": status})
    return m


def _counts(today: dt.date) -> dict:
    """The five status counts as SQL aggregates (the same rules as ``cell_status``)."""
    from django.db.models import Count, Q

    done = Q(state__in=DONE_STATES)
    open_ = ~Q(state__in=(*DONE_STATES, State.CANCELLED, State.MISSED))
    return {"on_time": Count("id", filter=done & Q(late=False)), "late": Count("id", filter=done & Q(late=True)),
            "missed": Count("id", filter=Q(state=State.MISSED) | (open_ & Q(due_date__lt=today))),
            "not_due": Count("id", filter=open_ & Q(due_date__gte=today)),
            "cancelled": Count("id", filter=Q(state=State.CANCELLED))}


STATUSES = ("on_time", "late", "missed", "not_due", "cancelled")


def _add(rate: Rate, row: dict) -> None:
    for status in STATUSES:
        setattr(rate, status, getattr(rate, status) + row[status])


def _grouped(root: Unit, year: int, today: dt.date) -> list[dict]:
    """Status counts per (unit id, obligation key): grouped on the occurrence table's own
    columns, with no join per row (the floor query's shape)."""
    return list(Occurrence.objects.filter(unit__path__startswith=root.path, period_start__year=year)
                .values("unit_id", "obligation_key").annotate(**_counts(today), ob=Max("obligation_id")).order_by())


def _titles(rows: list[dict]) -> dict[int, str]:
    from procedures.models import Obligation

    return dict(Obligation.objects.filter(pk__in={r["ob"] for r in rows}).values_list("pk", "title"))


def _rates(root: Unit, year: int, today: dt.date) -> Matrix:
    rows = _grouped(root, year, today)
    units = {pk: (code, name) for pk, code, name in Unit.objects.filter(path__startswith=root.path).values_list("pk", "code", "name")}
    titles = _titles(rows)
    m = Matrix(root=root, year=year)
    for r in rows:
        (code, name), key = units[r["unit_id"]], r["obligation_key"]
        m.units[code] = name
        m.obligations.setdefault(key, titles[r["ob"]])
        for rate in (m.by_unit[code], m.by_obligation[key], m.overall, m.by_unit_obligation[(code, key)]):
            _add(rate, r)
    return m


def rates_by_child(root: Unit, year: int, *, today: dt.date | None = None) -> tuple[dict[tuple[str, str], Rate], dict[str, str]]:
    """Rates per (directly subordinate unit's path, obligation key), each child's whole subtree
    rolled up: the rows of a committee-wide heatmap without reading every occurrence.
    Occurrences of ``root`` itself come under its own path. Returns the rates and the
    obligations' titles (three queries, whatever the size of the tree)."""
    today = today or timezone.localdate()
    cut = len(root.path) + 9  # one level of Unit.path ("00000001/")
    rows = _grouped(root, year, today)
    prefix = {pk: (path[:cut] if len(path) >= cut else root.path)
              for pk, path in Unit.objects.filter(path__startswith=root.path).values_list("pk", "path")}
    titles = _titles(rows)
    out: dict[tuple[str, str], Rate] = defaultdict(Rate)
    names: dict[str, str] = {}
    for r in rows:
        names.setdefault(r["obligation_key"], titles[r["ob"]])
        _add(out[(prefix[r["unit_id"]], r["obligation_key"])], r)
    return out, names
