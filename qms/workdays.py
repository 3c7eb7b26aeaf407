"""工作日历 — counting working days on the State Council's 法定节假日 and 调休 (``rules/workdays.toml``).

A day is a working day when it is Monday–Friday and not a listed day off, or when it is a
weekend day listed as worked (调休). Years the file does not list count Monday–Friday only;
``known(year)`` tells a page to say the calendar for that year is not entered.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

_FILE = Path(__file__).with_name("rules") / "workdays.toml"


@dataclass(frozen=True)
class Year:
    year: int
    source: str
    off: frozenset[dt.date]
    on: frozenset[dt.date]


@cache
def calendar() -> dict[int, Year]:
    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))
    out: dict[int, Year] = {}
    for key, v in data.get("years", {}).items():
        year = int(key)
        if not v.get("source", "").strip():
            raise ValueError(f"workdays.toml {year}: a source is required")
        off = frozenset(dt.date.fromisoformat(d) for d in v.get("off", ()))
        on = frozenset(dt.date.fromisoformat(d) for d in v.get("on", ()))
        if bad := [d for d in off | on if d.year != year]:
            raise ValueError(f"workdays.toml {year}: dates of another year {sorted(bad)}")
        if bad := [d for d in on if d.weekday() < 5]:
            raise ValueError(f"workdays.toml {year}: 调休上班日应为周末 {sorted(bad)}")
        if off & on:
            raise ValueError(f"workdays.toml {year}: a day both off and worked")
        out[year] = Year(year, v["source"], off, on)
    return out


def known(year: int) -> bool:
    """Is the year's 节假日安排 entered?"""
    return year in calendar()


def is_workday(day: dt.date) -> bool:
    y = calendar().get(day.year)
    if y is not None:
        if day in y.on:
            return True
        if day in y.off:
            return False
    return day.weekday() < 5


def count(start: dt.date, end: dt.date) -> int:
    """Working days from ``start`` to ``end``, both included (0 when end is before start)."""
    n, day = 0, start
    while day <= end:
        n += is_workday(day)
        day += dt.timedelta(days=1)
    return n


def add(start: dt.date, days: int) -> dt.date:
    """The day on which a period of ``days`` working days beginning on ``start`` ends (the
    ``days``-th working day counting ``start`` itself when it is one)."""
    if days <= 0:
        raise ValueError("days must be positive")
    n, day = 0, start
    while True:
        if is_workday(day):
            n += 1
            if n == days:
                return day
        day += dt.timedelta(days=1)
