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
from qms.models import (
    COMMITTEE_TITLES,
    PARTY_MEMBER_CATEGORIES,
    Member,
    Position,
    PositionTitle,
    Unit,
)
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
                                      obligation__form__fields__type=FieldType.LECTURER, record__isnull=False)
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
    given = lectures_given(root, year)  # one pass; each office counts the lectures under its own unit

    rows: list[LectureDuty] = []
    for unit in units:
        for rule in rules.get(unit.pk, []):
            ob = rule.obligation
            if not ob.per_person:
                continue
            titles = COMMITTEE_TITLES if ob.per_person == PerPerson.COMMITTEE_MEMBERS else (PositionTitle.SECRETARY,)
            seen: set[int] = set()
            for pos in _holders(unit, titles, year):
                if pos.member_id in seen:
                    continue
                seen.add(pos.member_id)
                rows.append(LectureDuty(member=pos.member, unit=unit, office=f"{unit.name}{pos.get_title_display()}",
                                        owed=ob.expected_per_year(), source=ob.source,
                                        lectures=[o for o in given.get(pos.member_id, []) if o.unit.path.startswith(unit.path)]))
    return rows


# ------------------------------------------------------------------ 参加组织生活 / 双重组织生活
# seed 004 篇1 十八: 定期检查党员参加组织生活情况,每年年终在支部内通报; seed 001 三(二)2 and
# 004 篇1 十三: 党员领导干部以普通党员身份参加所在党支部(党小组)组织生活 (双重组织生活); 001 三(一)1:
# 杜绝不参加党支部组织生活的“特殊党员”.

#: what counts as 组织生活 a member owes: a held meeting of their own 党支部 or 党小组 whose rule
#: expects the whole roll (``Obligation.attendees == "roster"``: 党员大会, 党课, 主题党日, 组织生活会 …)
HELD = (State.HELD, State.CHECKED, State.CLOSED)


@dataclass
class Participation:
    """One member's 组织生活 in a year, from the attendance records of the meetings they were on
    the roll for: 应参加, 出席, 请假, 缺席 and 未登记."""

    member: Member
    unit: Unit
    leader_office: str = ""
    due: int = 0
    present: int = 0
    leave: int = 0
    absent: int = 0
    unmarked: int = 0

    @property
    def rate(self) -> float | None:
        return self.present / self.due if self.due else None

    @property
    def percent(self) -> int | None:
        return None if self.rate is None else round(self.rate * 100)


def leader_offices(year: int) -> dict[int, str]:
    """member id → the 党委(党组) office(s) they held in ``year`` — the 党员领导干部 whom the
    双重组织生活 rule concerns (seed 001 三(一)1: 党组(党委)书记和党组(党委)成员)."""
    out: dict[int, list[str]] = {}
    for pos in _positions_in_year(year).filter(unit__kind="committee").select_related("unit").order_by("unit__path", "title"):
        out.setdefault(pos.member_id, []).append(f"{pos.unit.name}{pos.get_title_display()}")
    return {k: "、".join(dict.fromkeys(v)) for k, v in out.items()}


def _positions_in_year(year: int):
    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    return Position.objects.filter(title__in=COMMITTEE_TITLES, start__lte=end).filter(Q(end__isnull=True) | Q(end__gte=start))


def participation(root: Unit, year: int, *, leaders_only: bool = False) -> list[Participation]:
    """Every 党员 (正式 or 预备) who belonged to a 党支部 (or 党小组) in ``root``'s subtree during ``year``,
    with the held meetings of their own branch and group they were on the roll for and what
    the attendance record says of them. Leaders first, then by name."""
    from qms.models import Membership
    from workflows.models import Attendance, Presence

    start, end = dt.date(year, 1, 1), dt.date(year, 12, 31)
    spans = (Membership.objects.filter(unit__path__startswith=root.path, start__lte=end,
                                       member__category__in=PARTY_MEMBER_CATEGORIES)
             .filter(Q(end__isnull=True) | Q(end__gte=start)).select_related("member", "unit"))
    offices = leader_offices(year)
    if leaders_only:
        spans = spans.filter(member_id__in=list(offices))
    spans = list(spans)
    unit_ids = {s.unit_id for s in spans} | {s.group_id for s in spans if s.group_id}
    meetings = list(Occurrence.objects.filter(unit_id__in=unit_ids, state__in=HELD, held_on__gte=start, held_on__lte=end,
                                              obligation__attendees="roster").only("pk", "unit_id", "held_on"))
    marks = {(a["record__occurrence_id"], a["member_id"]): a for a in Attendance.objects.filter(
        record__occurrence__in=[o.pk for o in meetings], member_id__in={s.member_id for s in spans}).values(
        "record__occurrence_id", "member_id", "presence", "on_leave")}
    rows: dict[int, Participation] = {}
    for s in sorted(spans, key=lambda s: s.start):
        p = rows.get(s.member_id)
        if p is None:
            p = rows[s.member_id] = Participation(member=s.member, unit=s.unit, leader_office=offices.get(s.member_id, ""))
        p.unit = s.unit  # the latest branch of the year
        for o in meetings:
            if o.unit_id not in (s.unit_id, s.group_id) or not s.covers(o.held_on):
                continue
            p.due += 1
            a = marks.get((o.pk, s.member_id))
            if a is None:
                p.unmarked += 1
            elif a["presence"] == Presence.PRESENT:
                p.present += 1
            elif a["on_leave"]:
                p.leave += 1
            else:
                p.absent += 1
    return sorted(rows.values(), key=lambda p: (not p.leader_office, p.member.name, p.member.pk))


def dual_life_report(root: Unit, year: int) -> tuple[list[Participation], int, str]:
    """年终通报 — the 党员领导干部 in ``root``'s subtree whose attendance at their own branch's
    组织生活 is below the organisation's ``dual_life_min_percent`` (qms/rules/structure.toml,
    overridable), with the threshold and its source."""
    from qms.rules import rules_for

    rule = rules_for(root)["dual_life_min_percent"]
    below = [p for p in participation(root, year, leaders_only=True) if p.due and p.present * 100 < rule.value * p.due]
    return below, rule.value, rule.source
