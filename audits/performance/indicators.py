"""指标 — measurable indicators computed from the records, for objectives (党建目标), scoring
(考核) and the management review's inputs.

The indicators, the default objectives and the default scoring scheme are data in
``audits/performance/rules/objectives.toml``, each with its source. Every function here is set-based: one
query per indicator for a whole subtree, bucketed to the units asked for in Python, so the
number of queries does not grow with the number of units.

A value is a ``Share`` (numerator / denominator); ``None`` when nothing was due.
"""
from __future__ import annotations

import datetime as dt
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.utils import timezone

from qms.models import BRANCH_KINDS, Membership, MemberStatus, Unit
from workflows import dues
from workflows.dues import INCOME_LOOKBACK, dues_due, months_back
from workflows.models import DuesNonPayment, DuesPayment, Occurrence, State

RULES = Path(__file__).resolve().parent / "rules" / "objectives.toml"
DONE_STATES = (State.HELD, State.CHECKED, State.CLOSED)
SEGMENT = 9  # "00000001/" — one level of Unit.path


@cache
def rules() -> dict:
    """The indicator definitions, default objectives and scheme (read once)."""
    with RULES.open("rb") as f:
        return tomllib.load(f)


def names() -> dict[str, str]:
    return {k: v["name"] for k, v in rules()["indicators"].items()}


@dataclass(frozen=True)
class Share:
    num: int = 0
    den: int = 0

    @property
    def value(self) -> float | None:
        return None if not self.den else round(self.num / self.den, 4)

    def __add__(self, other: Share) -> Share:
        return Share(self.num + other.num, self.den + other.den)

    @property
    def percent(self) -> str:
        """"92.3%" (one decimal), "—" when nothing was due."""
        return "—" if self.value is None else f"{self.value:.1%}"

    def text(self) -> str:
        return "—(无应开展事项)" if self.value is None else f"{self.value:.1%}({self.num}/{self.den})"


def _owners(units: list[Unit]):
    """A function giving, for a row's unit path, the pks of the asked-for units containing it."""
    by_path = {u.path: u.pk for u in units}

    def owners(path: str) -> list[int]:
        return [by_path[path[:i]] for i in range(SEGMENT, len(path) + 1, SEGMENT) if path[:i] in by_path]

    return owners


def _common(units: list[Unit]) -> str:
    paths = [u.path for u in units]
    prefix = paths[0]
    for p in paths[1:]:
        while not p.startswith(prefix):
            prefix = prefix[:-SEGMENT]
    return prefix


def measure(key: str, units: list[Unit], start: dt.date, end: dt.date, *, today: dt.date | None = None) -> dict[int, Share]:
    """The indicator ``key`` for each unit's subtree over ``start``–``end`` (inclusive)."""
    spec = rules()["indicators"].get(key)
    if spec is None:
        raise KeyError(f"未知指标 {key}")
    if not units:
        return {}
    today = today or timezone.localdate()
    counts: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    owners = _owners(units)
    prefix = _common(units)
    for path, num, den in _ROWS[spec["kind"]](prefix, spec, start, end, today):
        for pk in owners(path):
            counts[pk][0] += num
            counts[pk][1] += den
    return {u.pk: Share(*counts[u.pk]) for u in units}


def value(key: str, unit: Unit, start: dt.date, end: dt.date, *, today: dt.date | None = None) -> Share:
    return measure(key, [unit], start, end, today=today)[unit.pk]


def _compliance(prefix, spec, start, end, today):
    """Done ÷ due (due dates in the period, past due or done); with ``on_time`` only what was held
    by its due date counts as done (按期)."""
    qs = Occurrence.objects.filter(unit__path__startswith=prefix, due_date__gte=start, due_date__lte=end)
    if spec.get("documents"):
        qs = qs.filter(obligation__version__document__code__in=spec["documents"])
    on_time = bool(spec.get("on_time"))
    for path, state, due, held in qs.values_list("unit__path", "state", "due_date", "held_on").iterator(chunk_size=5000):
        if state in DONE_STATES:
            yield path, int(not on_time or (held is not None and held <= due)), 1
        elif state == State.MISSED or (state != State.CANCELLED and due < today):
            yield path, 0, 1


def _rectification(prefix, spec, start, end, today, *, on_time: bool = False):
    from audits.capa.models import RECTIFIED_STATES, Grade, Nonconformity

    rows = (Nonconformity.objects.filter(unit__path__startswith=prefix, raised_on__gte=start, raised_on__lte=end)
            .exclude(grade=Grade.OBSERVATION).values_list("unit__path", "state", "closed_on", "due_date"))
    for path, state, closed, due in rows:
        done = state in RECTIFIED_STATES and closed is not None
        if on_time:
            done = done and (due is None or closed <= due)
        yield path, int(done), 1


def _rectification_on_time(prefix, spec, start, end, today):
    return _rectification(prefix, spec, start, end, today, on_time=True)


def _month_end(month: dt.date) -> dt.date:
    nxt = (month.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return nxt - dt.timedelta(days=1)


def pay_by(month: dt.date, day: int) -> dt.date:
    """The last day a month's dues count as paid 按月: the month's ``day`` (rule
    ``dues_pay_by_day``), or its last day when the month is shorter."""
    return month.replace(day=min(max(day, 1), _month_end(month).day))


def _pay_by_days(unit_ids) -> dict[int, int]:
    """Each unit's ``dues_pay_by_day`` (its own or its nearest ancestor's override)."""
    from qms.rules import rules_for_many

    units = list(Unit.objects.filter(pk__in=set(unit_ids)).only("pk", "path"))
    return {pk: r["dues_pay_by_day"].value for pk, r in rules_for_many(units).items()}


def _dues(prefix, spec, start, end, today):
    """Member-months owed in the period (complete months only, less those with a justified
    non-payment) and those paid in full (by the rate table, where an income is known:
    ``workflows.dues.dues_due``) by the day the organisation's rule ``dues_pay_by_day`` gives
    (by default the month's last day)."""
    last = min(end, today.replace(day=1) - dt.timedelta(days=1))
    months, m = [], start.replace(day=1)
    while m <= last:
        if _month_end(m) <= last:
            months.append(m)
        m = _month_end(m) + dt.timedelta(days=1)
    if not months:
        return
    payments = list(DuesPayment.objects.filter(
        member__memberships__unit__path__startswith=prefix, month__gte=months_back(months[0], INCOME_LOOKBACK), month__lte=months[-1])
        .order_by("member_id", "month").values_list("member_id", "month", "paid_on", "income", "amount").distinct())
    due = dues_due((mid, mo, income) for mid, mo, _paid, income, _amount in payments)  # 足额 by the rate table
    paid_in_full = {(mid, mo): paid for mid, mo, paid, _income, amount in payments
                    if mo >= months[0] and (due[(mid, mo)] is None or amount >= due[(mid, mo)])}
    excused = set(DuesNonPayment.objects.filter(  # a justified non-payment owes nothing that month
        member__memberships__unit__path__startswith=prefix, month__gte=months[0], month__lte=months[-1])
        .values_list("member_id", "month"))
    rows = list(Membership.objects.filter(unit__path__startswith=prefix, member__status=MemberStatus.ACTIVE,
                                          member__category__in=dues.owing_categories(), start__lte=months[-1])
                .values_list("unit_id", "unit__path", "member_id", "start", "end", "member__joined_on"))
    days = _pay_by_days(r[0] for r in rows)
    for unit_id, path, mid, ms_start, ms_end, joined in rows:
        since = max(d for d in (ms_start, joined) if d).replace(day=1)
        for mo in months:
            if mo >= since and (ms_end is None or ms_end >= _month_end(mo)) and (mid, mo) not in excused:
                paid = paid_in_full.get((mid, mo))
                yield path, int(paid is not None and paid <= pay_by(mo, days[unit_id])), 1


def _audit_coverage(prefix, spec, start, end, today):
    from audits.internal.models import Audit

    audited = set(Audit.objects.filter(start__lte=end, end__gte=start, units__path__startswith=prefix)
                  .values_list("units", flat=True))
    for pk, path in Unit.objects.filter(path__startswith=prefix, kind__in=BRANCH_KINDS, is_active=True).values_list("pk", "path"):
        yield path, int(pk in audited), 1


_ROWS = {
    "compliance": _compliance,
    "rectification": _rectification,
    "rectification_on_time": _rectification_on_time,
    "dues": _dues,
    "audit_coverage": _audit_coverage,
}
