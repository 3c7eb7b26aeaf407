"""执行 — occurrences (应开展事项): one obligation due for one unit in one period (or after
one event), each a PDCA finite-state workflow.

States (the one place they live is ``Occurrence.state``):
open 待安排 → planned 已计划 (P) → held 已开展 (D) → checked 已检查 (C) → closed 已闭环 (A);
missed 未开展 (the period ended with nothing held — a gap, kept, never deleted);
cancelled 已取消 (with a reason; also when a rule change makes a future one unnecessary).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from procedures.models import Obligation
from qms.models import MemberEvent, ScopedQuerySet, Unit


class State(models.TextChoices):
    OPEN = "open", _("待安排")
    PLANNED = "planned", _("已计划")
    HELD = "held", _("已开展")
    CHECKED = "checked", _("已检查")
    CLOSED = "closed", _("已闭环")
    MISSED = "missed", _("未开展")
    CANCELLED = "cancelled", _("已取消")


#: The PDCA steps shown as a stepper, in order.
PDCA = [(State.PLANNED, "P 计划"), (State.HELD, "D 执行"), (State.CHECKED, "C 检查"), (State.CLOSED, "A 处理")]


def plan_complete(occ: Occurrence) -> bool:
    """P: date, place and topic are set."""
    return bool(occ.planned_date and (occ.place or "").strip() and (occ.topic or "").strip())


def period_over(occ: Occurrence) -> bool:
    return occ.due_date < timezone.localdate()


class Occurrence(ConcurrentTransitionMixin, models.Model):
    """应开展事项 — e.g. “第三党支部 · 2026年第3季度 · 支部党员大会”."""

    scope_unit_lookup = "unit"

    unit = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="occurrences")
    obligation = models.ForeignKey(Obligation, verbose_name=_("规定"), on_delete=models.PROTECT, related_name="occurrences")
    obligation_key = models.CharField(_("规定键"), max_length=60, db_index=True)
    period_start = models.DateField(_("期间开始"))
    period_end = models.DateField(_("期间结束"))
    seq = models.PositiveSmallIntegerField(_("期内序号"), default=1)
    due_date = models.DateField(_("截止日期"))
    event = models.ForeignKey(MemberEvent, verbose_name=_("触发事件"), null=True, blank=True, on_delete=models.PROTECT, related_name="occurrences")
    state = FSMField(_("状态"), max_length=12, choices=State.choices, default=State.OPEN, protected=True)
    planned_date = models.DateField(_("计划日期"), null=True, blank=True)
    place = models.CharField(_("地点"), max_length=100, blank=True)
    topic = models.CharField(_("主题/议程"), max_length=200, blank=True)
    held_on = models.DateField(_("开展日期"), null=True, blank=True)
    late = models.BooleanField(_("逾期完成"), default=False)
    remark = models.CharField(_("取消/未开展说明"), max_length=200, blank=True)
    updated_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("最后操作人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("应开展事项")
        verbose_name_plural = _("应开展事项")
        ordering = ["period_start", "unit_id", "obligation_key", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "obligation_key", "period_start", "seq"], condition=Q(event__isnull=True), name="one_occurrence_per_slot"),
            models.UniqueConstraint(fields=["unit", "obligation_key", "event"], condition=Q(event__isnull=False), name="one_occurrence_per_event"),
        ]
        indexes = [models.Index(fields=["unit", "period_start"], name="occ_unit_period")]

    def __str__(self) -> str:
        return f"{self.unit} · {self.period_label()} · {self.obligation.title}"

    def period_label(self) -> str:
        from workflows.periods import Slot

        if self.event_id:
            return f"{self.event.date:%Y-%m-%d} {self.event.member.name} {self.event.get_kind_display()}"
        return Slot(self.period_start, self.period_end, self.seq, self.due_date).label()

    # ---- transitions (driven only by workflows.services, inside transaction.atomic())
    @transition(field=state, source=[State.OPEN, State.PLANNED], target=State.PLANNED, conditions=[plan_complete])
    def plan(self) -> None:
        """P 计划: date, place and topic/agenda set."""

    @transition(field=state, source=State.PLANNED, target=State.HELD)
    def hold(self) -> None:
        """D 执行: the record was submitted."""

    @transition(field=state, source=State.HELD, target=State.CHECKED)
    def mark_checked(self) -> None:
        """C 检查: reviewed by the checker; the record is frozen."""

    @transition(field=state, source=State.CHECKED, target=State.CLOSED)
    def close(self) -> None:
        """A 处理: every resolution and make-up done."""

    @transition(field=state, source=[State.OPEN, State.PLANNED], target=State.MISSED, conditions=[period_over])
    def miss(self) -> None:
        """未开展: the period ended with nothing held."""

    @transition(field=state, source=[State.OPEN, State.PLANNED], target=State.CANCELLED)
    def cancel(self) -> None:
        """取消: with a reason (approved by the level above, or a rule change)."""
