"""党员人数 — the one definition of "how many members a unit has", used by every page and
document that shows it (组织架构, 首页, 组织详情, 认证证据包, 管理评审), so the same unit on the
same day shows the same number everywhere.

What is counted, on a date (today unless given):

- 党员 = 正式党员 + 预备党员 (``PARTY_MEMBER_CATEGORIES``); 发展对象 and 入党积极分子 are on the
  roster but are not party members and are not counted;
- whose ``Membership`` span covers the date (a person transferred out, deceased or removed has
  a closed span, so is not counted after it ends) and whose status is 在册;
- a unit's number includes its whole subtree (党委 = its own members + every 总支 and 支部
  under it: the tree *rolls up*); a person counts once, in the unit their span names;
- a 党小组's members are those assigned to it (``Membership.group``); they are already counted
  in their 支部, so a 支部's number is not the sum of its groups.

Set-based: one grouped query for any number of units (the tree of a large committee).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from qms.models import (
    PARTY_MEMBER_CATEGORIES,
    MemberCategory,
    Membership,
    MemberStatus,
    Unit,
    UnitKind,
)

_SEGMENT = 9  # one zero-padded id and its slash in ``Unit.path`` ("00000001/00000007/")


@dataclass(frozen=True)
class MemberCount:
    """党员 (正式 + 预备) and of those 正式, on one date."""

    total: int = 0
    full: int = 0

    @property
    def probationary(self) -> int:
        return self.total - self.full

    def __add__(self, other: MemberCount) -> MemberCount:
        return MemberCount(self.total + other.total, self.full + other.full)


def _spans(day: dt.date):
    return (Membership.objects.filter(start__lte=day, member__category__in=PARTY_MEMBER_CATEGORIES,
                                      member__status=MemberStatus.ACTIVE)
            .filter(Q(end__isnull=True) | Q(end__gte=day)))


def _roots(units: list[Unit]) -> list[str]:
    out: list[str] = []
    for p in sorted({u.path for u in units}):
        if not any(p.startswith(r) for r in out):
            out.append(p)
    return out


def member_counts(units, *, on: dt.date | None = None) -> dict[int, MemberCount]:
    """``{unit id: MemberCount}`` for each of ``units``, rolled up over each one's subtree
    (see the module docstring for what is counted). Two grouped queries whatever the number
    of units."""
    units = list(units)
    if not units:
        return {}
    day = on or timezone.localdate()
    cond = Q()
    for p in _roots(units):
        cond |= Q(unit__path__startswith=p)
    spans = _spans(day).filter(cond)
    full = Count("id", filter=Q(member__category=MemberCategory.FULL))
    rolled: dict[str, MemberCount] = defaultdict(MemberCount)
    for row in spans.values("unit__path").annotate(n=Count("id"), f=full).order_by():
        here = MemberCount(row["n"], row["f"])
        path = row["unit__path"]
        for i in range(_SEGMENT, len(path) + 1, _SEGMENT):  # the unit and every ancestor
            rolled[path[:i]] += here
    out: dict[int, MemberCount] = {}
    groups = [u.pk for u in units if u.kind == UnitKind.GROUP]
    by_group: dict[int, MemberCount] = defaultdict(MemberCount)
    if groups:
        for row in spans.filter(group_id__in=groups).values("group_id").annotate(n=Count("id"), f=full).order_by():
            by_group[row["group_id"]] = MemberCount(row["n"], row["f"])
    for u in units:
        if u.kind == UnitKind.GROUP:
            out[u.pk] = by_group[u.pk]
        else:
            out[u.pk] = rolled[u.path]
    return out


def member_count(unit: Unit, *, on: dt.date | None = None) -> MemberCount:
    """One unit's 党员人数 (with its subtree) on a date: ``member_counts`` for one unit."""
    return member_counts([unit], on=on)[unit.pk]
