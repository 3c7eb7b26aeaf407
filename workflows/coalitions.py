"""联系组、协作组与联系点 — groups of units across the tree and the units a committee follows.

- A committee (``root``) sets up a 联系组 (seed 002 二: by business and locality, with its 指导思想,
  主要内容, 活动方式, 活动次数, 组织领导) or a 协作组 (seed 003 一2: 沟通联系、督办落实、考核验收统一组织)
  over units below it, led by a 组长单位 among them; the number of activities a year defaults to the
  organisation rule ``coalition_meetings_per_year``.
- Each activity (联席会议) is recorded: day, topic, the units present (members of the group), how
  many attended, what was agreed — by the committee's officers or the group's 组长.
- ``compliance`` lays the year out in as many equal periods as the group owes activities and marks
  each 按期 (an activity in it), 未开展 (past, none), 进行中 or 未到期 — the group's line in the
  执行情况 matrix.
- A 联系点 (seed 002 四) is a unit given a 题目 and 任务 with a due date; its 经验总结 closes it.

Every act is declared in the permission matrix and writes its ledger entry in the same transaction;
a refusal is in Chinese with nothing saved.
"""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from qms import ledger
from qms.models import Member, Unit, UnitKind
from qms.permissions import act
from qms.rules import rules_for
from qms.scoping import scopes_for
from workflows.models import Coalition, CoalitionKind, CoalitionMeeting, LiaisonPoint


def _root(root=None, coalition=None, meeting=None, point=None, **_) -> Unit:
    if root is not None:
        return root
    if coalition is not None:
        return coalition.root
    if meeting is not None:
        return meeting.coalition.root
    return point.root


def lead_duty(coalition: Coalition, actor, **_) -> set[str]:
    """``coalition_lead`` for the group's 组长 (their own login)."""
    if actor is None or coalition.leader_id is None:
        return set()
    return {"coalition_lead"} if Member.objects.filter(pk=coalition.leader_id, user_id=actor.pk).exists() else set()


def cooperation_lead(user, unit: Unit) -> bool:
    """Is ``user`` the 组长 of an active 协作组 that has ``unit`` among its members (seed 003 一2:
    考核验收统一组织 — the group's 组长 may score its units)?"""
    if user is None or not getattr(user, "pk", None):
        return False
    return Coalition.objects.filter(kind=CoalitionKind.COOPERATION, is_active=True, leader__user_id=user.pk,
                                    units=unit).exists()


def _check_units(root: Unit, units: list[Unit], lead_unit: Unit | None) -> None:
    if not units:
        raise ValidationError({"units": "请选择成员单位"})
    outside = [u.name for u in units if u.pk == root.pk or not u.path.startswith(root.path)]
    if outside:
        raise ValidationError({"units": f"{'、'.join(outside)} 不是“{root.name}”的下级组织"})
    groups = [u.name for u in units if u.kind == UnitKind.GROUP or not u.is_active]
    if groups:
        raise ValidationError({"units": f"{'、'.join(groups)} 不能作为成员单位(党小组或已撤销的组织)"})
    cap = rules_for(root)["coalition_max_units"]
    if len(units) > cap.value:
        raise ValidationError({"units": f"成员单位 {len(units)} 个,超过上限 {cap.value} 个(依据:{cap.source})"})
    if lead_unit is None or lead_unit not in units:
        raise ValidationError({"lead_unit": "组长单位应是成员单位之一"})


@act("coalition.manage", unit=_root)
@transaction.atomic
def coalition_create(*, actor, root: Unit, kind: str, name: str, basis: str, units: list[Unit], lead_unit: Unit | None,
                     leader: Member | None, content: str, form: str, meetings_per_year: int | None = None,
                     meetings_source: str = "", guideline: str = "", leadership: str = "") -> Coalition:
    """设立联系组、协作组 — over units below ``root``; a unit is in at most one group of each kind."""
    if kind not in CoalitionKind.values:
        raise ValidationError({"kind": "请选择联系组或协作组"})
    errors = {}
    for key, value, label in (("name", name, "名称"), ("basis", basis, "分组依据"), ("content", content, "主要内容"),
                              ("form", form, "活动方式")):
        if not (value or "").strip():
            errors[key] = f"请填写{label}"
    if errors:
        raise ValidationError(errors)
    units = list(dict.fromkeys(units))
    _check_units(root, units, lead_unit)
    taken = Coalition.objects.filter(root=root, kind=kind, is_active=True, units__in=units).values_list("units__name", "name")
    clash = [f"{u}(已在{g})" for u, g in taken if u in {x.name for x in units}]
    if clash:
        raise ValidationError({"units": f"每个单位只编入一个{CoalitionKind(kind).label}:{'、'.join(sorted(set(clash)))}"})
    if Coalition.objects.filter(root=root, name=name.strip()).exists():
        raise ValidationError({"name": f"已有名为“{name.strip()}”的联系组或协作组"})
    if leader is not None and not leader.memberships.filter(end__isnull=True, unit__path__startswith=root.path).exists():
        raise ValidationError({"leader": f"{leader.name} 不是“{root.name}”在册的党员"})
    rule = rules_for(root)["coalition_meetings_per_year"]
    if meetings_per_year is None:
        meetings_per_year, meetings_source = rule.value, rule.source
    elif not 1 <= meetings_per_year <= 12:
        raise ValidationError({"meetings_per_year": "每年活动次数应在 1 至 12 之间"})
    elif not (meetings_source or "").strip():
        raise ValidationError({"meetings_source": "另定活动次数时请写明依据(如本党委的联系组工作规定)"})
    c = Coalition.objects.create(root=root, kind=kind, name=name.strip(), basis=basis.strip(), lead_unit=lead_unit,
                                 leader=leader, content=content.strip(), form=form.strip(), guideline=guideline.strip(),
                                 meetings_per_year=meetings_per_year, meetings_source=meetings_source.strip(),
                                 leadership=leadership.strip(), created_by=actor if getattr(actor, "pk", None) else None)
    c.units.set(units)
    ledger.record("coalition.create", c, actor=actor)
    return c


@act("coalition.meeting", unit=_root, duties=lead_duty)
@transaction.atomic
def meeting_record(coalition: Coalition, *, actor, held_on: dt.date | None, topic: str, place: str,
                   units_present: list[Unit], attendance: int | None, minutes: str) -> CoalitionMeeting:
    """登记联席会议 — by the committee's officers or the group's 组长."""
    errors = {}
    if held_on is None:
        errors["held_on"] = "请填写日期"
    elif held_on > timezone.localdate():
        errors["held_on"] = "日期不能晚于今天"
    for key, value, label in (("topic", topic, "主题"), ("place", place, "地点"), ("minutes", minutes, "研究事项和议定意见")):
        if not (value or "").strip():
            errors[key] = f"请填写{label}"
    if attendance is None or attendance < 1:
        errors["attendance"] = "请填写参加人数"
    if errors:
        raise ValidationError(errors)
    members = set(coalition.units.values_list("pk", flat=True))
    present = list(dict.fromkeys(units_present))
    if not present:
        raise ValidationError({"units_present": "请选择到会单位"})
    strangers = [u.name for u in present if u.pk not in members]
    if strangers:
        raise ValidationError({"units_present": f"{'、'.join(strangers)} 不是“{coalition.name}”的成员单位"})
    m = CoalitionMeeting.objects.create(coalition=coalition, held_on=held_on, topic=topic.strip(), place=place.strip(),
                                        attendance=attendance, minutes=minutes.strip(),
                                        recorded_by=actor if getattr(actor, "pk", None) else None)
    m.units_present.set(present)
    ledger.record("coalition.meeting", m, actor=actor)
    return m


@dataclass(frozen=True)
class Period:
    start: dt.date
    end: dt.date
    status: str  # on_time | missed | open | not_due
    held: int

    @property
    def label(self) -> str:
        return {"on_time": "按期", "missed": "未开展", "open": "进行中", "not_due": "未到期"}[self.status]

    @property
    def months(self) -> str:
        return f"{self.start.month}月" if self.start.month == self.end.month else f"{self.start.month}–{self.end.month}月"


def periods(coalition: Coalition, year: int, *, today: dt.date | None = None) -> list[Period]:
    """The year in ``meetings_per_year`` equal spans of months, each with its status."""
    today = today or timezone.localdate()
    n = coalition.meetings_per_year
    days = sorted(coalition.meetings.filter(held_on__year=year).values_list("held_on", flat=True))
    out = []
    for i in range(n):
        first, last = 1 + (12 * i) // n, (12 * (i + 1)) // n
        start = dt.date(year, first, 1)
        end = (dt.date(year + 1, 1, 1) if last == 12 else dt.date(year, last + 1, 1)) - dt.timedelta(days=1)
        held = sum(1 for d in days if start <= d <= end)
        if held:
            status = "on_time"
        elif end < today:
            status = "missed"
        elif start <= today:
            status = "open"
        else:
            status = "not_due"
        out.append(Period(start, end, status, held))
    return out


@dataclass(frozen=True)
class Line:
    coalition: Coalition
    periods: list[Period]
    due: int
    done: int

    @property
    def rate(self) -> float | None:
        return self.done / self.due if self.due else None


def compliance(root: Unit, year: int, *, today: dt.date | None = None) -> list[Line]:
    """执行情况 of the groups set up by ``root`` or an organisation below it: one line each."""
    out = []
    for c in (Coalition.objects.filter(root__path__startswith=root.path, is_active=True)
              .select_related("root").prefetch_related("meetings").order_by("kind", "name")):
        ps = periods(c, year, today=today)
        due = [p for p in ps if p.status in ("on_time", "missed")]
        out.append(Line(c, ps, len(due), sum(1 for p in due if p.status == "on_time")))
    return out


@act("coalition.manage", unit=_root)
@transaction.atomic
def point_create(*, actor, root: Unit, unit: Unit, leader: Member, theme: str, tasks: str, due_on: dt.date | None) -> LiaisonPoint:
    """确定联系点 — a unit below ``root`` given a 题目 and 任务 by a 联系领导 (an officer of ``root``)."""
    errors = {}
    if unit.pk == root.pk or not unit.path.startswith(root.path):
        errors["unit"] = f"“{unit.name}”不是“{root.name}”的下级组织"
    if not (theme or "").strip():
        errors["theme"] = "请填写题目"
    if not (tasks or "").strip():
        errors["tasks"] = "请填写任务"
    if due_on is None:
        errors["due_on"] = "请填写完成期限"
    if errors:
        raise ValidationError(errors)
    if not leader.positions.filter(unit=root, end__isnull=True).exists():
        raise ValidationError({"leader": f"{leader.name} 不是“{root.name}”的班子成员,联系领导应由班子成员担任"})
    p = LiaisonPoint.objects.create(root=root, unit=unit, leader=leader, theme=theme.strip(), tasks=tasks.strip(), due_on=due_on)
    ledger.record("liaison_point.create", p, actor=actor)
    return p


@act("coalition.manage", unit=_root)
@transaction.atomic
def point_summarise(point: LiaisonPoint, *, actor, summary: str, on: dt.date | None = None) -> LiaisonPoint:
    """总结经验 — closes the 联系点's task."""
    if not (summary or "").strip():
        raise ValidationError({"summary": "请填写经验总结"})
    p = LiaisonPoint.objects.select_for_update().get(pk=point.pk)
    if p.summarized_on is not None:
        raise ValidationError("该联系点已总结")
    before = ledger.snapshot(p)
    p.summary, p.summarized_on = summary.strip(), on or timezone.localdate()
    p.save(update_fields=["summary", "summarized_on"])
    ledger.record("liaison_point.summarise", p, actor=actor, before=before)
    return p


def visible_roots(user) -> list[Unit]:
    """The organisations whose groups the user may look at (their scopes)."""
    return [Unit.objects.get(pk=s.unit_id) for s in scopes_for(user)]
