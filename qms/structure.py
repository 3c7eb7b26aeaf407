"""组织设置检查 — structural warnings from seed 001 三(二)1 and 三(二)8 and seed 002 一.

Every number is a rule of ``rules/structure.toml`` (overridable per organisation), each with
the kinds of unit it applies to and the population it counts (党员 or 正式党员, as the seed
says); which office fills a unit's 纪检 post is in ``rules/tree.toml``. Each warning carries
its rule's source.

Warnings, not errors: real trees are messy. Counted with a few set-based queries for a whole
subtree (the number of queries does not grow with the number of units).
"""
from __future__ import annotations

import datetime as dt
import tomllib
from collections import defaultdict
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.db.models import Count, Q
from django.utils import timezone

from qms.figures import MemberCount
from qms.models import (
    BRANCH_KINDS,
    COMMITTEE_TITLES,
    PARTY_MEMBER_CATEGORIES,
    MemberCategory,
    Membership,
    MemberStatus,
    Position,
    PositionTitle,
    Unit,
    UnitKind,
)
from qms.rules import TERM_KEYS, Rule, defaults, rules_for_many, shape


@dataclass(frozen=True)
class StructureWarning:
    unit_id: int
    unit_code: str
    unit_name: str
    code: str
    message: str
    source: str


@cache
def required_seats() -> dict[str, tuple[tuple[str, ...], str]]:
    """Unit kind → (the offices it must have filled, source): ``rules/tree.toml`` [seats]. An
    empty one is a vacancy, warned until a 补选 fills it (seed 001 三(二)1、三(二)8)."""
    data = tomllib.loads((Path(__file__).with_name("rules") / "tree.toml").read_text(encoding="utf-8"))
    return {k: (tuple(v["required"]), v["source"]) for k, v in data.get("seats", {}).items()}


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
    return rules_for_many(units)


def _ancestor_ids(unit: Unit) -> list[int]:
    return [int(p) for p in unit.path.strip("/").split("/") if p]


def _people(rule: Rule, own: MemberCount, rolled: MemberCount, kind: str) -> int:
    """The population ``rule`` counts (its ``counts``: 党员 or 正式党员) — a 党支部's own
    roster, or a 党总支's / 党委's whole subtree."""
    count = own if kind in BRANCH_KINDS else rolled
    return count.total if rule.counts == "党员" else count.full


def _titles(titles) -> str:
    return "、".join(str(PositionTitle(t).label) for t in titles)


def tree_warnings(root: Unit | None = None, *, on: dt.date | None = None) -> list[StructureWarning]:
    """All structural warnings for a subtree (or the whole tree)."""
    day = on or timezone.localdate()
    units_qs = Unit.objects.filter(is_active=True)
    if root is not None:
        units_qs = units_qs.filter(path__startswith=root.path)
    units = list(units_qs.annotate(n_admin=Count("admin_units")))
    ids = units_qs.values("pk")  # a subquery: a tree of 20,000 units would make a literal IN list slow
    own: dict[int, MemberCount] = defaultdict(MemberCount)
    for row in (
        Membership.objects.filter(unit_id__in=ids, start__lte=day)
        .filter(Q(end__isnull=True) | Q(end__gte=day))
        .filter(member__status=MemberStatus.ACTIVE, member__category__in=PARTY_MEMBER_CATEGORIES)
        .values("unit_id").annotate(n=Count("id"), n_full=Count("id", filter=Q(member__category=MemberCategory.FULL)))
    ):
        own[row["unit_id"]] = MemberCount(row["n"], row["n_full"])
    rolled: dict[int, MemberCount] = defaultdict(MemberCount)  # a unit with its whole subtree
    for u in units:
        if own[u.pk].total:
            for a in _ancestor_ids(u):
                rolled[a] = rolled[a] + own[u.pk]
    committee: dict[int, int] = defaultdict(int)
    held: dict[int, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # unit → title → holders
    for row in (
        Position.objects.filter(unit_id__in=ids, start__lte=day)
        .filter(Q(end__isnull=True) | Q(end__gte=day))
        .values("unit_id", "title").annotate(n=Count("member_id", distinct=True))
    ):
        held[row["unit_id"]][row["title"]] = row["n"]
    ended: dict[int, set[str]] = defaultdict(set)  # unit → titles once held, ended by the day
    for row in Position.objects.filter(unit_id__in=ids, end__lt=day).values("unit_id", "title").distinct():
        ended[row["unit_id"]].add(row["title"])
    for row in (
        Position.objects.filter(unit_id__in=ids, title__in=COMMITTEE_TITLES, start__lte=day)
        .filter(Q(end__isnull=True) | Q(end__gte=day))
        .values("unit_id").annotate(n=Count("member_id", distinct=True))
    ):
        committee[row["unit_id"]] = row["n"]
    rules = _rules_by_unit(units)
    posts = shape().discipline
    out: list[StructureWarning] = []
    for u in units:
        r = rules[u.pk]

        def warn(code: str, message: str, rule_key: str, u=u, r=r) -> None:
            out.append(StructureWarning(u.pk, u.code, u.name, code, message, r[rule_key].source))

        def applies(key: str, u=u, r=r) -> bool:
            return u.kind in r[key].kinds

        def people(key: str, u=u, r=r) -> int:
            return _people(r[key], own[u.pk], rolled[u.pk], u.kind)

        n_com, titles = committee[u.pk], held[u.pk]
        # 党组织设置 by the number of 正式党员 (seed 001 三(二)1)
        if applies("branch_min_full_members"):
            rule, n = r["branch_min_full_members"], people("branch_min_full_members")
            if n < rule.value:
                warn("joint_branch_needed", f"{rule.counts} {n} 名,不足{rule.value}名,应按地域相邻、行业相近、规模适当、便于管理的原则成立联合党支部", rule.key)
        big = False
        if applies("committee_full_members_above"):
            rule, n = r["committee_full_members_above"], people("committee_full_members_above")
            if n > rule.value:
                big = True
                warn("committee_considered", f"{rule.counts} {n} 名,超过{rule.value}名,经上级党组织批准可成立党的基层委员会", rule.key)
        if applies("branch_max_full_members") and not big:
            rule, n = r["branch_max_full_members"], people("branch_max_full_members")
            if n > rule.value:
                warn("too_many_members", f"{rule.counts} {n} 名,超过{rule.value}名,经上级党组织批准可成立党的总支部委员会", rule.key)
        # 支部委员会: required above, absent below (seed 001 三(二)1)
        has_committee = n_com >= r["committee_size_min"].value if u.kind in BRANCH_KINDS else n_com > 0
        if applies("branch_committee_required_above"):
            rule, n = r["branch_committee_required_above"], people("branch_committee_required_above")
            if n > rule.value and not has_committee:
                warn("no_committee", f"{rule.counts} {n} 名,超过{rule.value}名,应设支部委员会(现有委员 {n_com} 名)", rule.key)
        if applies("branch_no_committee_below"):
            rule, n = r["branch_no_committee_below"], people("branch_no_committee_below")
            deputy = r["small_branch_deputy_max"]
            seats = [t for t in COMMITTEE_TITLES if titles.get(t) and t not in (PositionTitle.SECRETARY, PositionTitle.DEPUTY_SECRETARY)]
            if n < rule.value and (seats or titles.get(PositionTitle.DEPUTY_SECRETARY, 0) > deputy.value):
                extra = _titles(seats) if seats else f"副书记 {titles[PositionTitle.DEPUTY_SECRETARY]} 名"
                warn("small_branch_offices", f"{rule.counts} {n} 名,不足{rule.value}名,只设书记1人,必要时可设副书记{deputy.value}名(现设有{extra})", rule.key)
        # 委员会人数 by kind
        sizes = {UnitKind.COMMITTEE: ("party_committee_size_min", "party_committee_size_max"),
                 UnitKind.GENERAL_BRANCH: ("general_branch_committee_size_min", "general_branch_committee_size_max")}
        if u.kind in BRANCH_KINDS and n_com > r["committee_size_max"].value:
            lo, usual, hi = (r[k].value for k in ("committee_size_min", "committee_size_usual_max", "committee_size_max"))
            warn("committee_size", f"支部委员会现有 {n_com} 人:支部委员会由{lo}至{usual}人组成,一般不超过{hi}人", "committee_size_max")
        elif u.kind in sizes and n_com:
            lo_key, hi_key = sizes[u.kind]
            lo, hi = r[lo_key].value, r[hi_key].value
            if not lo <= n_com <= hi:
                warn("committee_size", f"{UnitKind(u.kind).label}委员会现有 {n_com} 人,应为{lo}至{hi}人", hi_key if n_com > hi else lo_key)
        # 纪检 posts (seed 001 三(二)1), where the unit's offices are recorded at all (an empty
        # seat list is a vacancy, not a missing 纪检 post)
        if n_com:
            if u.kind == UnitKind.COMMITTEE:
                case, key = "committee", "discipline_commission_required"
            elif has_committee:
                case, key = "with_committee", "discipline_member_required"
            else:
                case, key = "without_committee", "discipline_contact_required"
            post_titles, post, _source = posts[case]
            if applies(key) and r[key].value and not any(titles.get(t) for t in post_titles):
                what = {"committee": "设机关党委的应设立机关纪委", "with_committee": "党总支、支部委员会应设纪检委员",
                        "without_committee": "不设委员会的支部应指定专人负责纪检工作"}[case]
                hint = f"(可登记为{_titles(post_titles)})" if len(post_titles) > 1 else ""
                warn("no_discipline_post", f"未登记{post}:{what}{hint}", key)
        if applies("joint_branch_max_units"):
            cap = r["joint_branch_max_units"].value
            if u.n_admin > cap:
                warn("joint_too_wide", f"联合党支部覆盖 {u.n_admin} 个单位,一般不超过 {cap} 个", "joint_branch_max_units")
        if applies("temp_branch_close_after_end") and r["temp_branch_close_after_end"].value \
                and u.ends_on is not None and u.ends_on < day:
            warn("temp_branch_ended", f"临时党支部的任务已于 {u.ends_on:%Y-%m-%d} 结束,应请示撤销",
                 "temp_branch_close_after_end")
        # 空缺 (seed 001 三(二)1、三(二)8): a seat the kind requires, with nobody in it on the day,
        # in a unit whose offices are recorded (someone holds or has held an office there; a unit
        # with no office ever recorded is one whose 班子 has not been entered yet)
        seats, seat_source = required_seats().get(u.kind, ((), ""))
        empty = [t for t in seats if not titles.get(t)]
        if empty and (titles or ended.get(u.pk)):
            was = ended.get(u.pk, set()) & set(empty)
            what = f"{_titles(empty)}{'空缺' if was else '未配备'}"
            out.append(StructureWarning(u.pk, u.code, u.name, "vacant_seat",
                                        f"{what}:书记、副书记、委员出现空缺,应当及时按程序进行补选", seat_source))
        key = TERM_KEYS.get(u.kind)
        if key:
            years = u.term_years or r[key].value
            end = term_end(u, years)
            if end is not None and end < day:
                warn("term_expired", f"本届任期({years}年)已于 {end:%Y-%m-%d} 届满,应按期换届", key)
    return out


def unit_warnings(unit: Unit, *, on: dt.date | None = None) -> list[StructureWarning]:
    return [w for w in tree_warnings(unit, on=on) if w.unit_id == unit.pk]
