"""工作日历 — counting working days on the State Council's 法定节假日 and 调休.

The years shipped with the product are in ``rules/workdays.toml``; the 体系管理员 enters a new
year from the State Council's notice in the product (``calendar_year_save``, page 工作日历), and
an entered year takes the place of the shipped one. A day is a working day when it is
Monday–Friday and not a listed day off, or when it is a weekend day listed as worked (调休).
Years entered nowhere count Monday–Friday only; ``known(year)`` tells a page to say the
calendar for that year is not entered.
"""
from __future__ import annotations

import datetime as dt
import re
import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction

from qms import ledger
from qms.permissions import act

_FILE = Path(__file__).with_name("rules") / "workdays.toml"


@dataclass(frozen=True)
class Year:
    year: int
    source: str
    off: frozenset[dt.date]
    on: frozenset[dt.date]
    entered: object = None  # the WorkCalendarYear row when the 体系管理员 entered the year


def problems(year: int, off: set[dt.date], on: set[dt.date]) -> list[str]:
    """What is wrong with a year's days (the same checks for the shipped file and an entry)."""
    out = []
    if bad := sorted(d for d in off | on if d.year != year):
        out.append(f"以下日期不属于{year}年:" + "、".join(f"{d:%Y-%m-%d}" for d in bad))
    if bad := sorted(d for d in on if d.weekday() < 5):
        out.append("调休上班日应为周六或周日:" + "、".join(f"{d:%Y-%m-%d}" for d in bad))
    if bad := sorted(off & on):
        out.append("以下日期既填为放假又填为上班:" + "、".join(f"{d:%Y-%m-%d}" for d in bad))
    return out


@cache
def shipped() -> dict[int, Year]:
    """The years in ``rules/workdays.toml``."""
    data = tomllib.loads(_FILE.read_text(encoding="utf-8"))
    out: dict[int, Year] = {}
    for key, v in data.get("years", {}).items():
        year = int(key)
        if not v.get("source", "").strip():
            raise ValueError(f"workdays.toml {year}: a source is required")
        off = frozenset(dt.date.fromisoformat(d) for d in v.get("off", ()))
        on = frozenset(dt.date.fromisoformat(d) for d in v.get("on", ()))
        if bad := problems(year, set(off), set(on)):
            raise ValueError(f"workdays.toml {year}: {';'.join(bad)}")
        out[year] = Year(year, v["source"], off, on)
    return out


def calendar() -> dict[int, Year]:
    """Every year known: the shipped ones, each replaced by the 体系管理员's entry of that year."""
    from qms.models import WorkCalendarYear

    out = dict(shipped())
    for row in WorkCalendarYear.objects.select_related("entered_by"):
        out[row.year] = Year(row.year, row.source, frozenset(map(dt.date.fromisoformat, row.off)),
                             frozenset(map(dt.date.fromisoformat, row.on)), row)
    return out


def known(year: int) -> bool:
    """Is the year's 节假日安排 entered?"""
    return year in calendar()


def is_workday(day: dt.date, cal: dict[int, Year] | None = None) -> bool:
    y = (calendar() if cal is None else cal).get(day.year)
    if y is not None:
        if day in y.on:
            return True
        if day in y.off:
            return False
    return day.weekday() < 5


def count(start: dt.date, end: dt.date) -> int:
    """Working days from ``start`` to ``end``, both included (0 when end is before start)."""
    cal = calendar()
    n, day = 0, start
    while day <= end:
        n += is_workday(day, cal)
        day += dt.timedelta(days=1)
    return n


def add(start: dt.date, days: int) -> dt.date:
    """The day on which a period of ``days`` working days beginning on ``start`` ends (the
    ``days``-th working day counting ``start`` itself when it is one)."""
    if days <= 0:
        raise ValueError("days must be positive")
    cal = calendar()
    n, day = 0, start
    while True:
        if is_workday(day, cal):
            n += 1
            if n == days:
                return day
        day += dt.timedelta(days=1)


# ------------------------------------------------------------------ entering a year


_DAY = r"(?:(\d{4})\s*[-/.年]\s*)?(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?"
_END = r"(?:(\d{4})\s*[-/.年]\s*)?(?:(\d{1,2})\s*[-/.月]\s*)?(\d{1,2})\s*日?"  # 2月15日至23日: month may be left out
_ITEM = re.compile(rf"^{_DAY}(?:\s*(?:至|到|~|～|—|–)\s*{_END})?$")


def _date(year: int, y: str | None, m: str, d: str, text: str) -> dt.date:
    try:
        day = dt.date(int(y) if y else year, int(m), int(d))
    except ValueError:
        raise ValidationError(f"“{text}”不是有效的日期") from None
    return day


def parse_days(text: str, year: int, label: str) -> set[dt.date]:
    """The days a person typed: one per item, items separated by line breaks, commas, 、 or ;;
    an item is a date (2027-02-05, 2月5日) or a range (2月5日至2月11日, 2027-10-01~2027-10-07; the
    year may be left out and is then ``year``)."""
    out: set[dt.date] = set()
    for item in re.split(r"[\n,,、;;]+", text or ""):
        item = item.strip()
        if not item:
            continue
        m = _ITEM.match(item)
        if m is None:
            raise ValidationError(f"{label}中的“{item[:30]}”无法识别:请写作 2027-02-05 或 2月5日,连续的日期写作 2月5日至2月11日")
        first = _date(year, *m.group(1, 2, 3), item)
        if m.group(6):
            y2, m2, d2 = m.group(4, 5, 6)
            last = _date(first.year if y2 is None else year, y2, m2 or str(first.month), d2, item)
        else:
            last = first
        if last < first or (last - first).days > 31:
            raise ValidationError(f"{label}中的“{item[:30]}”起止日期有误")
        while first <= last:
            out.add(first)
            first += dt.timedelta(days=1)
    return out


@act("calendar.edit")
@transaction.atomic
def calendar_year_save(*, actor, year: int, source: str, off: str, on: str, reason: str = ""):
    """录入工作日历 — a year's 放假 and 调休上班 days from the State Council's notice (``source``:
    its title and date). A year entered before is corrected only with a reason (both kept in
    the ledger); a year shipped with the product may be entered to correct it the same way."""
    from qms.models import WorkCalendarYear

    if not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ValidationError({"year": "请填写年度(2000—2100)"})
    source = (source or "").strip()
    errors: dict[str, str] = {}
    if not source:
        errors["source"] = "请填写依据的通知(如《国务院办公厅关于2027年部分节假日安排的通知》及发布日期)"
    try:
        off_days = parse_days(off, year, "放假日期")
        if not off_days:
            errors["off"] = "请填写放假日期"
    except ValidationError as exc:
        errors["off"], off_days = exc.messages[0], set()
    try:
        on_days = parse_days(on, year, "调休上班日期")
    except ValidationError as exc:
        errors["on"], on_days = exc.messages[0], set()
    if not errors and (bad := problems(year, off_days, on_days)):
        errors["off"] = ";".join(bad)
    row = WorkCalendarYear.objects.select_for_update().filter(year=year).first()
    reason = (reason or "").strip()
    if (row is not None or year in shipped()) and not reason:
        errors["reason"] = f"{year}年的工作日历已有,更正须说明原因"
    if errors:
        raise ValidationError(errors)
    values = {"source": source, "off": sorted(d.isoformat() for d in off_days), "on": sorted(d.isoformat() for d in on_days),
              "entered_by": actor if getattr(actor, "pk", None) else None}
    if row is None:
        row = WorkCalendarYear.objects.create(year=year, **values)
        ledger.record("work_calendar.create", row, actor=actor, reason=reason)
        return row
    before = ledger.snapshot(row)
    for k, v in values.items():
        setattr(row, k, v)
    from django.utils import timezone

    row.entered_at = timezone.now()
    row.save()
    ledger.record("work_calendar.amend", row, actor=actor, before=before, reason=reason)
    return row
