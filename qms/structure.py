"""组织设置检查 — structural warnings from seed 001 三(二)1 and 三(二)8.

Warnings, not errors: real trees are messy. Counted with a few set-based queries for a whole
subtree (the number of queries does not grow with the number of units).
"""
from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass

from django.db.models import Count, Q
from django.utils import timezone

from qms.models import (
    BRANCH_KINDS,
    COMMITTEE_TITLES,
    MemberCategory,
    Membership,
    MemberStatus,
    Position,
    Unit,
    UnitKind,
)
from qms.rules import TERM_KEYS, defaults, rules_for


@dataclass(frozen=True)
class StructureWarning:
    unit_id: int
    unit_code: str
    unit_name: str
    code: str
    message: str
    source: str


def add_years(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return day.replace(year=day.year + years, day=28)


def term_end(unit: Unit, term_years: int) -> dt.date | None:
    if unit.term_start is None:
        return None
    return add_years(unit.term_start, term_years)


def _rules_by_unit(units: list[Unit]) -> dict[int, dict]:
    """Effective rules per unit; overrides are rare, so reuse defaults where none apply."""
    from qms.models import PolicyOverride

    if not PolicyOverride.objects.exists():
        base = defaults()
        return {u.pk: base for u in units}
    return {u.pk: rules_for(u) for u in units}


def tree_warnings(root: Unit | None = None, *, on: dt.date | None = None) -> list[StructureWarning]:
    """All structural warnings for a subtree (or the whole tree)."""
    day = on or timezone.localdate()
    units_qs = Unit.objects.filter(is_active=True)
    if root is not None:
        units_qs = units_qs.filter(path__startswith=root.path)
    units = list(units_qs.annotate(n_admin=Count("admin_units")))
    ids = units_qs.values("pk")  # a subquery: a tree of 20,000 units would make a literal IN list slow
    full_counts: dict[int, int] = defaultdict(int)
    for row in (
        Membership.objects.filter(unit_id__in=ids, start__lte=day)
        .filter(Q(end__isnull=True) | Q(end__gte=day))
        .filter(member__status=MemberStatus.ACTIVE, member__category=MemberCategory.FULL)
        .values("unit_id").annotate(n=Count("id"))
    ):
        full_counts[row["unit_id"]] = row["n"]
    committee: dict[int, int] = defaultdict(int)
    for row in (
        Position.objects.filter(unit_id__in=ids, title__in=COMMITTEE_TITLES, start__lte=day)
        .filter(Q(end__isnull=True) | Q(end__gte=day))
        .values("unit_id").annotate(n=Count("member_id", distinct=True))
    ):
        committee[row["unit_id"]] = row["n"]
    rules = _rules_by_unit(units)
    out: list[StructureWarning] = []
    for u in units:
        r = rules[u.pk]

        def warn(code: str, message: str, rule_key: str, u=u, r=r) -> None:
            out.append(StructureWarning(u.pk, u.code, u.name, code, message, r[rule_key].source))

        n_full, n_com = full_counts[u.pk], committee[u.pk]
        if u.kind in BRANCH_KINDS:
            limit = r["branch_committee_required_above"].value
            if n_full > limit and n_com < r["committee_size_min"].value:
                warn("no_committee", f"正式党员 {n_full} 名,超过 {limit} 名,应设支部委员会(现有委员 {n_com} 名)", "branch_committee_required_above")
            cap = r["branch_max_full_members"].value
            if n_full > cap:
                warn("too_many_members", f"正式党员 {n_full} 名,超过 {cap} 名,可考虑成立党总支", "branch_max_full_members")
        if u.kind != UnitKind.GROUP and n_com:
            lo, hi = r["committee_size_min"].value, r["committee_size_max"].value
            # a branch below its size threshold may have only a 书记, and one above it with too
            # few members already has the "no_committee" warning: only too many counts there
            too_few = n_com < lo and u.kind not in BRANCH_KINDS
            if too_few or n_com > hi:
                warn("committee_size", f"委员会现有 {n_com} 人,应为 {lo}–{hi} 人", "committee_size_max")
        if u.kind == UnitKind.JOINT_BRANCH:
            cap = r["joint_branch_max_units"].value
            if u.n_admin > cap:
                warn("joint_too_wide", f"联合党支部覆盖 {u.n_admin} 个单位,一般不超过 {cap} 个", "joint_branch_max_units")
        key = TERM_KEYS.get(u.kind)
        if key:
            years = u.term_years or r[key].value
            end = term_end(u, years)
            if end is not None and end < day:
                warn("term_expired", f"本届任期({years}年)已于 {end:%Y-%m-%d} 届满,应按期换届", key)
    return out


def unit_warnings(unit: Unit, *, on: dt.date | None = None) -> list[StructureWarning]:
    return [w for w in tree_warnings(unit, on=on) if w.unit_id == unit.pk]
