"""目标管理(层层分解)— the committee's yearly 方针目标 broken down to 总支, 支部, 党小组 and each
member (seed 004 篇4 层层下达, 篇7 科室扛目标、人人有指标, 篇8 将目标落实到党支部、党小组和每个党员),
with the monthly 重点工作 of each target and its 任务时间控制表.

A target's measure is data (``rules/targets.toml``): computed from the records (an indicator of
``indicators``, for a 党组织) or reported by its owner with a note. Whether children's targets may
not add up to more than their parent's (``additive``) and how a parent's progress is made from
its children's (``rollup``: sum or mean) are the measure's. Every act is asked of the permission
matrix (``targets.manage``, ``targets.report``) and ledgered in its transaction; bad input is
refused in Chinese before anything is written.

A target whose due date has passed unmet raises one 不符合项 (source 目标未完成) through the
corrective-action services, once (``raise_missed``, the daily task ``audits.raise_missed_targets``).
"""
from __future__ import annotations

import calendar
import datetime as dt
import tomllib
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from pathlib import Path

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audits.capa import services as capa
from audits.capa.models import Grade, NCSource
from audits.performance import indicators
from audits.performance.models import Target, TargetReport, TargetTask
from qms import ledger
from qms.models import Member, MemberStatus, Unit
from qms.permissions import act
from qms.rules import rule_value

RULES = Path(__file__).resolve().parent / "rules" / "targets.toml"
#: the largest target value (the field holds 10 digits before the point)
MAX_VALUE = Decimal(10) ** 9
HUNDRED = Decimal(100)
CLAUSE = "ISO 9001 §6.2"


@cache
def measures() -> dict[str, dict]:
    """The measures a target may be set on (read once), each with its source."""
    with RULES.open("rb") as f:
        return tomllib.load(f)["measures"]


def measure_of(key: str) -> dict:
    spec = measures().get(key)
    if spec is None:
        raise ValidationError("请选择目标的指标")
    return spec


def is_computed(spec: dict) -> bool:
    return not spec.get("reported") and spec.get("indicator") in indicators.rules()["indicators"]


def _number(n: Decimal | None) -> str:
    if n is None:
        return "—"
    d = Decimal(n).quantize(Decimal("0.1")) if Decimal(n) != Decimal(n).to_integral_value() else Decimal(n)
    return f"{d.normalize():f}"


def value_text(n: Decimal | None, spec: dict) -> str:
    return "—" if n is None else f"{_number(n)}{spec['unit']}"


def _decimal(raw, label: str) -> Decimal:
    try:
        d = raw if isinstance(raw, Decimal) else Decimal(str(raw).strip())
    except (InvalidOperation, ValueError):
        raise ValidationError(f"请填写有效的{label}") from None
    if not d.is_finite() or d < 0 or d >= MAX_VALUE:
        raise ValidationError(f"{label}应为不小于 0 的数(不超过十亿)")
    if d != d.quantize(Decimal("0.01")):
        raise ValidationError(f"{label}最多保留两位小数")
    return d


def _member_unit(member: Member) -> Unit:
    """Where a member's own target sits: their 党小组, else their 党支部."""
    ms = member.current_membership() if member.status == MemberStatus.ACTIVE else None
    if ms is None:
        raise ValidationError(f"{member.name}没有在册的组织关系,不能设定个人目标")
    return ms.group or ms.unit


# ------------------------------------------------------------------------------ the acts


def _add_unit(*, unit, parent=None, **_):
    """The 党组织 doing the cascade: the parent's owner (or the unit itself for a top target)."""
    return parent.unit if parent is not None else unit


@act("targets.manage", unit=_add_unit)
@transaction.atomic
def target_add(*, actor, year: int, measure: str, title: str, value, due_date: dt.date, unit: Unit | None = None,
               parent: Target | None = None, member: Member | None = None, source: str = "") -> Target:
    """设定或分解目标 — a top target of ``unit`` (no parent: the committee's 方针目标), or a child of
    ``parent`` owned by a unit below the parent's owner or by a member inside it."""
    if actor is None:
        raise ValidationError("目标须由具名人员设定")
    spec = measure_of(measure)
    title = (title or "").strip()
    if not title:
        raise ValidationError("请填写目标内容")
    value = _decimal(value, "目标值")
    if value <= 0:
        raise ValidationError("目标值应大于 0")
    if spec["unit"] == "%" and value > HUNDRED:
        raise ValidationError("百分比目标值不能超过 100")
    if not isinstance(due_date, dt.date):
        raise ValidationError("请填写完成期限")
    if due_date.year != year:
        raise ValidationError(f"完成期限应在 {year} 年内")
    if member is not None:
        if parent is None:
            raise ValidationError("党员个人目标须从所在组织的目标分解而来,请先选择上级目标")
        if is_computed(spec):
            raise ValidationError(f"“{spec['name']}”按组织的记录计算,党员个人目标请选择填报类指标")
        unit = _member_unit(member)
    if unit is None:
        raise ValidationError("请选择责任组织")
    if parent is not None:
        parent = Target.objects.select_for_update().select_related("unit").get(pk=parent.pk)
        if parent.member_id:
            raise ValidationError("党员个人目标不能再分解")
        if parent.year != year:
            raise ValidationError(f"下级目标的年度应与上级目标相同({parent.year} 年)")
        if parent.measure != measure:
            raise ValidationError(f"下级目标的指标应与上级目标相同(“{measure_of(parent.measure)['name']}”)")
        if due_date > parent.due_date:
            raise ValidationError(f"下级目标的完成期限不能晚于上级目标({parent.due_date:%Y-%m-%d})")
        inside = unit.path.startswith(parent.unit.path)
        if member is None and (not inside or unit.pk == parent.unit_id):
            raise ValidationError(f"{unit.name}不是{parent.unit.name}的下级组织,不能承接其目标")
        if member is not None and not inside:
            raise ValidationError(f"{member.name}不在{parent.unit.name},不能承接其目标")
        if Target.objects.filter(parent=parent, unit=unit, member=member).exists():
            raise ValidationError(f"{member.name if member else unit.name}已承接该目标,请勿重复分解")
        if spec.get("additive"):
            taken = sum((t.value for t in parent.children.all()), Decimal(0))
            if taken + value > parent.value:
                raise ValidationError(
                    f"“{spec['name']}”可以累加:下级目标合计 {value_text(taken + value, spec)},"
                    f"超过上级目标 {value_text(parent.value, spec)}(已分解 {value_text(taken, spec)},"
                    f"最多还可分解 {value_text(parent.value - taken, spec)})")
        source = source or parent.source
    t = Target.objects.create(parent=parent, unit=unit, member=member, year=year, measure=measure, title=title,
                              value=value, due_date=due_date, source=(source or "").strip()[:200])
    ledger.record("target.add", t, actor=actor)
    return t


@act("targets.manage", unit=lambda target, **_: target.parent.unit if target.parent_id else target.unit)
@transaction.atomic
def target_set(target: Target, *, actor, value, due_date: dt.date, reason: str) -> Target:
    """调整目标 — a new value or due date, with its reason in the ledger; the cascade stays whole:
    an additive target stays within its parent (with its siblings) and above what its children
    already add up to, and no due date runs past the parent's or falls before a child's."""
    if not (reason or "").strip():
        raise ValidationError("调整目标须说明原因")
    t = Target.objects.select_for_update(of=("self",)).select_related("parent", "unit").get(pk=target.pk)
    spec = measure_of(t.measure)
    value = _decimal(value, "目标值")
    if value <= 0:
        raise ValidationError("目标值应大于 0")
    if spec["unit"] == "%" and value > HUNDRED:
        raise ValidationError("百分比目标值不能超过 100")
    if not isinstance(due_date, dt.date) or due_date.year != t.year:
        raise ValidationError(f"完成期限应在 {t.year} 年内")
    if t.parent_id and due_date > t.parent.due_date:
        raise ValidationError(f"下级目标的完成期限不能晚于上级目标({t.parent.due_date:%Y-%m-%d})")
    children = list(t.children.all())
    late = max((c.due_date for c in children), default=None)
    if late is not None and due_date < late:
        raise ValidationError(f"完成期限不能早于下级目标的完成期限({late:%Y-%m-%d})")
    if spec.get("additive"):
        if t.parent_id:
            others = sum((c.value for c in t.parent.children.exclude(pk=t.pk)), Decimal(0))
            if others + value > t.parent.value:
                raise ValidationError(f"“{spec['name']}”可以累加:调整后下级目标合计 {value_text(others + value, spec)},"
                                      f"超过上级目标 {value_text(t.parent.value, spec)}")
        below = sum((c.value for c in children), Decimal(0))
        if children and value < below:
            raise ValidationError(f"下级目标已合计 {value_text(below, spec)},调整后的目标不能低于此数")
    before = ledger.snapshot(t)
    t.value, t.due_date = value, due_date
    t.save(update_fields=["value", "due_date"])
    ledger.record("target.amend", t, actor=actor, before=before, reason=reason.strip())
    return t


def _report_duties(*, target, actor, **_) -> set[str]:
    """``self`` when the person is the member who owns the target."""
    if actor is None or not target.member_id:
        return set()
    member_user = Member.objects.filter(pk=target.member_id).values_list("user_id", flat=True).first()
    return {"self"} if actor is not None and member_user is not None and member_user == actor.pk else set()


@act("targets.report", unit=lambda target, **_: target.unit, duties=_report_duties)
@transaction.atomic
def target_report(target: Target, *, actor, value, note: str, on: dt.date | None = None) -> TargetReport:
    """填报进度 — the figure reached so far, with a note (the latest report counts)."""
    spec = measure_of(target.measure)
    if is_computed(spec):
        raise ValidationError(f"“{spec['name']}”由系统按记录计算,无需填报")
    if target.children.exists():
        raise ValidationError("该目标已分解,进度由下级目标汇总,请在下级目标中填报")
    value = _decimal(value, "完成值")
    if spec["unit"] == "%" and value > HUNDRED:
        raise ValidationError("百分比不能超过 100")
    note = (note or "").strip()
    if not note:
        raise ValidationError("请填写进度说明(做了什么、依据何在)")
    r = TargetReport.objects.create(target=target, value=value, note=note[:300], reported_on=on or timezone.localdate(),
                                    reported_by=actor)
    ledger.record("target.report", r, actor=actor)
    return r


@act("targets.manage", unit=lambda target, **_: target.unit)
@transaction.atomic
def task_add(target: Target, *, actor, month: int, text: str) -> TargetTask:
    """安排月度重点工作 — a task of the target in one month of its year."""
    text = (text or "").strip()
    if not text:
        raise ValidationError("请填写重点工作内容")
    try:
        month = int(month)
    except (TypeError, ValueError):
        raise ValidationError("请选择月份(1–12)") from None
    if not 1 <= month <= 12:
        raise ValidationError("请选择月份(1–12)")
    if dt.date(target.year, month, 1) > target.due_date:
        raise ValidationError(f"重点工作的月份不能晚于目标的完成期限({target.due_date:%Y-%m-%d})")
    task = TargetTask.objects.create(target=target, month=month, text=text[:200])
    ledger.record("target.task_add", task, actor=actor)
    return task


@act("targets.report", unit=lambda task, **_: task.target.unit,
     duties=lambda task, actor, **_: _report_duties(target=task.target, actor=actor))
@transaction.atomic
def task_done(task: TargetTask, *, actor, done_on: dt.date | None = None) -> TargetTask:
    """登记重点工作完成 — with the date it was done (not in the future)."""
    t = TargetTask.objects.select_for_update().get(pk=task.pk)
    if t.done_on is not None:
        raise ValidationError(f"该重点工作已于 {t.done_on:%Y-%m-%d} 登记完成")
    done_on = done_on or timezone.localdate()
    if done_on > timezone.localdate():
        raise ValidationError("完成日期不能晚于今天")
    before = ledger.snapshot(t)
    t.done_on, t.done_by = done_on, actor
    t.save()
    ledger.record("target.task_done", t, actor=actor, before=before)
    return t


# ------------------------------------------------------------------------------ progress


def month_end(year: int, month: int) -> dt.date:
    return dt.date(year, month, calendar.monthrange(year, month)[1])


@dataclass
class TaskCell:
    task: TargetTask
    state: str  # planned | done | overdue

    @property
    def mark(self) -> str:
        return {"done": "✓", "overdue": "✗"}.get(self.state, "■")


@dataclass
class Node:
    """One target with its progress (computed, reported or rolled up) and its children."""

    target: Target
    spec: dict
    progress: Decimal | None = None
    how: str = ""  # 系统计算 | 填报 | 下级汇总(合计/平均)
    note: str = ""
    met: bool | None = None
    children: list[Node] = field(default_factory=list)
    tasks: list[TaskCell] = field(default_factory=list)
    depth: int = 0

    @property
    def progress_text(self) -> str:
        return value_text(self.progress, self.spec) if self.progress is not None else "—(尚无数据)"

    @property
    def target_text(self) -> str:
        return value_text(self.target.value, self.spec)

    @property
    def status(self) -> str:
        return "已完成" if self.met else ("尚无数据" if self.progress is None else "未完成")

    @property
    def percent(self) -> int:
        """Share of the target reached, 0–100 (for the bar)."""
        if self.progress is None or not self.target.value:
            return 0
        return int(min(HUNDRED, self.progress * HUNDRED / self.target.value))

    def walk(self):
        yield self
        for c in self.children:
            yield from c.walk()


def _task_state(task: TargetTask, year: int, today: dt.date) -> str:
    if task.done_on is not None:
        return "done"
    return "overdue" if month_end(year, task.month) < today else "planned"


def evaluate(targets: list[Target], *, today: dt.date | None = None) -> dict[int, Node]:
    """Every target's node with its progress, set-based: one query for the reports, one for the
    tasks, one per computed indicator (for all the units at once); parents roll up their
    children's progress (``rollup`` of the measure) when the children are in ``targets``."""
    today = today or timezone.localdate()
    nodes = {t.pk: Node(t, measure_of(t.measure)) for t in targets}
    ids = list(nodes)
    for task in TargetTask.objects.filter(target_id__in=ids).order_by("month", "pk"):
        n = nodes[task.target_id]
        n.tasks.append(TaskCell(task, _task_state(task, n.target.year, today)))
    latest: dict[int, TargetReport] = {}
    for r in TargetReport.objects.filter(target_id__in=ids).order_by("reported_on", "pk"):
        latest[r.target_id] = r
    for n in nodes.values():
        parent = nodes.get(n.target.parent_id)
        if parent is not None:
            parent.children.append(n)
    leaves = [n for n in nodes.values() if not n.children]
    by_indicator: dict[tuple[str, int], list[Node]] = defaultdict(list)
    for n in leaves:
        if is_computed(n.spec) and not n.target.member_id:
            by_indicator[(n.spec["indicator"], n.target.year)].append(n)
        elif n.target.pk in latest:
            r = latest[n.target.pk]
            n.progress, n.how, n.note = r.value, "填报", f"{r.reported_on:%Y-%m-%d} {r.note}"
        else:
            n.how = "待填报"
    for (key, year), group in by_indicator.items():
        units = list({n.target.unit_id: n.target.unit for n in group}.values())
        shares = indicators.measure(key, units, dt.date(year, 1, 1), dt.date(year, 12, 31), today=today)
        for n in group:
            share = shares[n.target.unit_id]
            n.how, n.note = "系统计算", share.text()
            n.progress = None if share.value is None else (Decimal(str(share.value)) * HUNDRED).quantize(Decimal("0.1"))

    def roll(n: Node) -> Decimal | None:
        if n.children:
            got = [v for v in (roll(c) for c in n.children) if v is not None]
            total = sum(got, Decimal(0))
            if n.spec["rollup"] == "sum":
                n.progress, n.how = (total if got else None), "下级合计"
            else:
                n.progress, n.how = ((total / len(got)).quantize(Decimal("0.1")) if got else None), "下级平均"
            n.note = f"{len(got)}/{len(n.children)} 项有数据"
        n.met = None if n.progress is None else n.progress >= n.target.value
        return n.progress

    roots = [n for n in nodes.values() if n.target.parent_id not in nodes]
    for r in roots:
        roll(r)
        for d in r.walk():
            d.depth = 0 if d is r else nodes[d.target.parent_id].depth + 1
    return nodes


def tree(unit: Unit, year: int, *, today: dt.date | None = None) -> list[Node]:
    """The targets of ``unit`` and every unit and member below it for the year, as trees (a
    target whose parent is above ``unit`` starts a tree of its own)."""
    targets = list(Target.objects.filter(unit__path__startswith=unit.path, year=year)
                   .select_related("unit", "member", "nonconformity", "parent__unit").order_by("unit__path", "member_id", "pk"))
    nodes = evaluate(targets, today=today)
    return [n for n in nodes.values() if n.target.parent_id not in nodes]


def flat(roots: list[Node]) -> list[Node]:
    return [n for r in roots for n in r.walk()]


def to_dict(n: Node) -> dict:
    """A node for the command's JSON: its owner, measure, target, progress and children."""
    t = n.target
    return {"id": t.pk, "title": t.title, "owner": t.owner_name, "owner_kind": "member" if t.member_id else "unit",
            "unit": t.unit.code, "measure": t.measure, "measure_name": n.spec["name"], "unit_of_measure": n.spec["unit"],
            "target": float(t.value), "progress": None if n.progress is None else float(n.progress), "how": n.how,
            "met": n.met, "due_date": t.due_date.isoformat(),
            "nonconformity": t.nonconformity.code if t.nonconformity_id else None,
            "tasks": [{"month": c.task.month, "text": c.task.text, "state": c.state,
                       "done_on": c.task.done_on.isoformat() if c.task.done_on else None} for c in n.tasks],
            "children": [to_dict(c) for c in n.children]}


# ------------------------------------------------------------------------ missed targets


def raise_missed(today: dt.date | None = None) -> int:
    """Every target whose due date has passed unmet raises one 不符合项 (source 目标未完成) in the
    corrective-action machine, to the owner's 党组织; once per target (the ticket is linked in
    the same transaction). Returns the number raised."""
    today = today or timezone.localdate()
    due = list(Target.objects.filter(due_date__lt=today, nonconformity__isnull=True).values_list("year", flat=True).distinct())
    raised = 0
    for year in sorted(set(due)):
        targets = list(Target.objects.filter(year=year).select_related("unit", "member", "parent"))
        nodes = evaluate(targets, today=today)
        for n in nodes.values():
            if n.target.due_date < today and n.target.nonconformity_id is None and not n.met:
                raised += _raise_one(n)
    return raised


@transaction.atomic
def _raise_one(n: Node) -> int:
    t = Target.objects.select_for_update(of=("self",)).select_related("unit", "member").get(pk=n.target.pk)
    if t.nonconformity_id is not None:  # raised meanwhile
        return 0
    grade = Grade.MAJOR if rule_value(t.unit, "target_missed_nonconformity_major") else Grade.MINOR
    reached = "尚无完成数据" if n.progress is None else f"完成 {value_text(n.progress, n.spec)}({n.how})"
    nc = capa.nc_raise(actor=None, unit=t.unit, source=NCSource.TARGET_MISSED, grade=grade, clause=CLAUSE,
                       requirement=f"{t.year} 年目标“{t.title}”:{n.spec['name']}达到 {value_text(t.value, n.spec)},"
                                   f"期限 {t.due_date:%Y-%m-%d}(依据:{t.source or n.spec['source']})",
                       evidence=f"{t.owner_name}:截至 {t.due_date:%Y-%m-%d} {reached},未完成目标")
    before = ledger.snapshot(t)
    t.nonconformity = nc
    t.save(update_fields=["nonconformity"])
    ledger.record("target.missed", t, before=before)
    return 1
