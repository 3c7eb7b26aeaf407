"""个人履责 — rules owed by a person rather than by a unit, counted from the records.

党课 by person (seed 001 三(二)2: 党组(党委)成员每年至少讲1次党课; 三(一)3: 支部书记每年为支部
党员讲党课不少于2次). The obligations say how many (``Obligation.per_person`` with ``count`` +
``per``, overridable like any frequency); a person's lecture counts when the 党课 was held in
the year, its record checked, and its 主讲人 (a person chosen from the roll,
``services.lecturer_candidates``) is that person. A 党委 member's lecture may be given in any
organisation of the 党委; a secretary's in their own branch. The secretary's lectures are not
owed on top of the quarterly 党课: the seed does not say so, and a quarterly 党课 the secretary
gives counts for both.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q

from procedures.models import FieldType, PerPerson
from procedures.rules import effective_rules_many
from qms.models import COMMITTEE_TITLES, Member, Position, PositionTitle, Unit
from workflows.models import Occurrence, State

DONE = (State.CHECKED, State.CLOSED)


@dataclass
class LectureDuty:
    """One person's yearly 党课 obligation and the lectures that fulfil it."""

    member: Member
    unit: Unit
    office: str
    owed: int
    source: str
    lectures: list[Occurrence] = field(default_factory=list)

    @property
    def done(self) -> int:
        return len(self.lectures)

    @property
    def fulfilled(self) -> bool:
        return self.done >= self.owed

    @property
    def short(self) -> int:
        return max(0, self.owed - self.done)


def _holders(unit: Unit, titles, year: int) -> list[Position]:
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    return list(Position.objects.filter(unit=unit, title__in=titles, start__lte=end)
                .filter(Q(end__isnull=True) | Q(end__gte=start)).select_related("member").order_by("title", "member__name"))


def lectures_given(root: Unit, year: int) -> dict[int, list[Occurrence]]:
    """member id → the checked 党课 they lectured in ``year`` anywhere in ``root``'s subtree (the
    record's element of type 主讲人 names them)."""
    occs = (Occurrence.objects.filter(unit__path__startswith=root.path, state__in=DONE, held_on__year=year,
                                      obligation__form__fields__type=FieldType.LECTURER)
            .select_related("unit", "record", "obligation__form").distinct().order_by("held_on", "pk"))
    out: dict[int, list[Occurrence]] = {}
    for occ in occs:
        keys = [f.key for f in occ.obligation.form.fields.all() if f.type == FieldType.LECTURER]
        for key in keys:
            pk = occ.record.elements.get(key)
            if isinstance(pk, int) and not isinstance(pk, bool):
                out.setdefault(pk, []).append(occ)
    return out


def lecture_duties(root: Unit, year: int) -> list[LectureDuty]:
    """Every per-person 党课 obligation in force in ``root``'s subtree for ``year``, one row per
    person who held the office that year: owed, lectures given (held and checked), fulfilled."""
    units = list(Unit.objects.filter(path__startswith=root.path, is_active=True).order_by("path"))
    rules = effective_rules_many(units)
    given_cache: dict[int, dict[int, list[Occurrence]]] = {}

    def given(u: Unit) -> dict[int, list[Occurrence]]:
        if u.pk not in given_cache:
            given_cache[u.pk] = lectures_given(u, year)
        return given_cache[u.pk]

    rows: list[LectureDuty] = []
    for unit in units:
        for rule in rules.get(unit.pk, []):
            ob = rule.obligation
            if not ob.per_person:
                continue
            titles = COMMITTEE_TITLES if ob.per_person == PerPerson.COMMITTEE_MEMBERS else (PositionTitle.SECRETARY,)
            by_member = given(unit)
            seen: set[int] = set()
            for pos in _holders(unit, titles, year):
                if pos.member_id in seen:
                    continue
                seen.add(pos.member_id)
                rows.append(LectureDuty(member=pos.member, unit=unit, office=f"{unit.name}{pos.get_title_display()}",
                                        owed=ob.expected_per_year(), source=ob.source,
                                        lectures=list(by_member.get(pos.member_id, []))))
    return rows
