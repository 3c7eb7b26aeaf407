"""下一步 — the one line at the top of every occurrence, ticket, audit and document page that says
who acts next, what they do and by when ("待 张三(支部书记)检查记录,截止 12-10"), or that
nothing is left to do ("已完成:已闭环").

Each package computes its own objects' next step from their state and the permission matrix
(``workflows.nextstep``, ``audits.nextstep``, ``procedures.nextstep``); this module holds the
shape and the wording, and finds people by office (``people_in``) — by name and position,
never by login. The template ``qms/_next_step.html`` shows it.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.db.models import Q
from django.utils import timezone

from qms.models import Position, PositionTitle, Role, RoleGrant, Unit, UnitKind

#: how a position reads after a name: "张三(支部书记)"
_KIND_PREFIX = {UnitKind.COMMITTEE: "党委", UnitKind.GENERAL_BRANCH: "总支", UnitKind.BRANCH: "支部",
                UnitKind.JOINT_BRANCH: "支部", UnitKind.TEMP_BRANCH: "支部", UnitKind.GROUP: ""}


def position_label(unit: Unit, title: str) -> str:
    """"支部书记", "党委组织委员", "党小组长" …"""
    label = str(PositionTitle(title).label)
    if title == PositionTitle.GROUP_LEADER:
        return label
    return _KIND_PREFIX.get(unit.kind, "") + label


@dataclass(frozen=True)
class NextStep:
    """Who (names with positions), what, by when — or done."""

    what: str
    who: list[str] = field(default_factory=list)
    due: dt.date | None = None
    done: bool = False
    note: str = ""
    vacant: str = ""  # the office that should act when nobody holds it ("支部书记")

    @property
    def overdue(self) -> bool:
        return not self.done and self.due is not None and self.due < timezone.localdate()

    @property
    def text(self) -> str:
        if self.done:
            return f"已完成:{self.what}" + (f"({self.note})" if self.note else "")
        who = "、".join(self.who) if self.who else f"{self.vacant}(暂无人任职,请先任命)"
        out = f"待 {who}{self.what}"
        if self.due is not None:
            out += f",截止 {self.due:%m-%d}" if self.due.year == timezone.localdate().year else f",截止 {self.due:%Y-%m-%d}"
            if self.overdue:
                out += "(已逾期)"
        if self.note:
            out += f";{self.note}"
        return out


def people_in(unit: Unit | None, titles, *, on: dt.date | None = None, exclude_users=()) -> list[str]:
    """"张三(支部书记)" for everyone holding one of ``titles`` in ``unit`` on the date, in the
    order of ``titles`` — but not the logins in ``exclude_users`` (those the matrix forbids)."""
    if unit is None:
        return []
    day = on or timezone.localdate()
    titles = [str(t) for t in titles]
    rows = (Position.objects.filter(unit=unit, title__in=titles, start__lte=day)
            .filter(Q(end__isnull=True) | Q(end__gte=day)).select_related("member").order_by("start", "pk"))
    excluded = {u for u in exclude_users if u}
    rows = sorted((p for p in rows if p.member.user_id is None or p.member.user_id not in excluded),
                  key=lambda p: titles.index(p.title))
    seen, out = set(), []
    for p in rows:
        if p.member_id not in seen:
            seen.add(p.member_id)
            out.append(f"{p.member.name}({position_label(unit, p.title)})")
    return out


def admins_over(unit: Unit | None, *, on: dt.date | None = None, exclude_users=()) -> list[str]:
    """"李四(体系管理员)" for each 体系管理员 whose grant covers ``unit`` (any grant for an object
    of no unit, such as the standard library)."""
    from qms.people import person

    day = on or timezone.localdate()
    grants = RoleGrant.objects.filter(role=Role.ADMIN, valid_from__lte=day).exclude(user_id__in=[u for u in exclude_users if u])
    if unit is not None:
        grants = grants.filter(unit_id__in=[int(p) for p in unit.path.strip("/").split("/") if p])
    grants = (grants
              .filter(Q(valid_until__isnull=True) | Q(valid_until__gte=day)).select_related("user").order_by("pk"))
    names: list[str] = []
    for g in grants:
        name = f"{person(g.user)}(体系管理员)"
        if name not in names:
            names.append(name)
    return names


def named(user, role: str) -> str:
    """"王五(审核组长)" — a login's person by name with the role they act in."""
    from qms.people import person

    return f"{person(user)}({role})"
