"""Calendar periods of an obligation — pure functions, no database.

Turns an obligation's frequency data (count per month/quarter/half-year/year, every N
months, once a year before a date, a preferred quarter) into the concrete periods a unit
owes executions for: ``(period_start, period_end, seq, due_date)``.
"""
from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

MONTHS_PER = {"month": 1, "quarter": 3, "half_year": 6, "year": 12}


@dataclass(frozen=True)
class Slot:
    """One execution owed: the period it belongs to, its number within it, and its due date."""

    start: dt.date
    end: dt.date
    seq: int
    due: dt.date

    def label(self) -> str:
        months = (self.end.year - self.start.year) * 12 + self.end.month - self.start.month + 1
        if months == 1:
            text = f"{self.start.year}年{self.start.month}月"
        elif months == 3 and self.start.month in (1, 4, 7, 10):
            text = f"{self.start.year}年第{(self.start.month - 1) // 3 + 1}季度"
        elif months == 6 and self.start.month in (1, 7):
            text = f"{self.start.year}年{'上' if self.start.month == 1 else '下'}半年"
        elif months == 12 and self.start.month == 1:
            text = f"{self.start.year}年"
        else:
            text = f"{self.start:%Y.%m}–{self.end:%Y.%m}"
        return text if self.seq == 1 else f"{text}(第{self.seq}次)"


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


def add_months(day: dt.date, months: int) -> dt.date:
    y, m = divmod(day.month - 1 + months, 12)
    return dt.date(day.year + y, m + 1, 1)


def slots_for(*, count: int | None, per: str, every_months: int | None, before: str, preferred_period: str,
              grace_days: int, start: dt.date, end: dt.date) -> list[Slot]:
    """Every slot whose period overlaps [start, end] (both month-aligned by the caller)."""
    grace = dt.timedelta(days=grace_days)
    out: list[Slot] = []
    if before and not per and not every_months:
        m, d = (int(x) for x in before.split("-"))
        for year in range(start.year, end.year + 1):
            due = dt.date(year, m, d) - dt.timedelta(days=1)
            out.append(Slot(dt.date(year, 1, 1), due, 1, due + grace))
        return [s for s in out if s.end >= start and s.start <= end]
    step = every_months or MONTHS_PER.get(per or "", 0)
    if not step:
        return []
    n = 1 if every_months else (count or 1)
    cursor = dt.date(start.year, 1, 1)
    while cursor <= end:
        period_end = add_months(cursor, step) - dt.timedelta(days=1)
        if period_end >= start:
            due_end = period_end
            if preferred_period and step == 12:
                q = {"Q1": 3, "Q2": 6, "Q3": 9, "Q4": 12, "H1": 6, "H2": 12}[preferred_period]
                due_end = month_end(cursor.year, q)
            for seq in range(1, n + 1):
                out.append(Slot(cursor, period_end, seq, due_end + grace))
        cursor = add_months(cursor, step)
    return out
