"""管理评审 (ISO 9001 §9.3) — a review, its inputs and minutes, and its decisions, each of which
becomes a ticket (a ``Nonconformity`` of source 管理评审)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from audits.capa.models import Nonconformity
from qms.models import ScopedQuerySet, Unit


class ReviewState(models.TextChoices):
    PLANNED = "planned", _("已计划")
    HELD = "held", _("已召开")
    CLOSED = "closed", _("已关闭")


def has_inputs(review: ManagementReview) -> bool:
    return bool(review.inputs)


def has_minutes(review: ManagementReview) -> bool:
    return bool((review.minutes or "").strip()) and review.held_on is not None


class ManagementReview(ConcurrentTransitionMixin, models.Model):
    """管理评审 — a planned meeting of the committee: inputs gathered from the data (ISO 9001
    §9.3.2), the meeting record, and outputs as decisions whose actions run through the
    corrective/improvement machine (§9.3.3)."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("评审年度"))
    title = models.CharField(_("名称"), max_length=120)
    planned_on = models.DateField(_("计划日期"))
    chair = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("主持人"), on_delete=models.PROTECT, related_name="+")
    state = FSMField(_("状态"), max_length=10, choices=ReviewState.choices, default=ReviewState.PLANNED, protected=True)
    inputs = models.JSONField(_("评审输入"), default=dict, blank=True)
    inputs_at = models.DateTimeField(_("输入汇集时间"), null=True, blank=True)
    held_on = models.DateField(_("召开日期"), null=True, blank=True)
    attendees = models.TextField(_("出席人员"), blank=True)
    minutes = models.TextField(_("会议记录"), blank=True)
    conclusion = models.TextField(_("评审结论"), blank=True, help_text=_("体系的适宜性、充分性和有效性"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("管理评审")
        verbose_name_plural = _("管理评审")
        ordering = ["-planned_on"]

    def __str__(self) -> str:
        return self.title

    @transition(field=state, source=ReviewState.PLANNED, target=ReviewState.HELD, conditions=[has_inputs, has_minutes])
    def hold(self) -> None:
        """召开评审会议(有输入、有记录)."""

    @transition(field=state, source=ReviewState.HELD, target=ReviewState.CLOSED)
    def close(self) -> None:
        """评审关闭(输出已形成措施)."""


class DecisionKind(models.TextChoices):
    IMPROVEMENT = "improvement", _("改进机会")
    CHANGE = "change", _("体系变更")
    RESOURCE = "resource", _("资源需求")


class ReviewDecision(models.Model):
    """评审输出 — one decision; its action is a ticket (Nonconformity, source 管理评审)."""

    review = models.ForeignKey(ManagementReview, verbose_name=_("管理评审"), on_delete=models.PROTECT, related_name="decisions")
    kind = models.CharField(_("类别"), max_length=12, choices=DecisionKind.choices)
    text = models.TextField(_("决定"))
    action = models.OneToOneField(Nonconformity, verbose_name=_("措施单"), on_delete=models.PROTECT, related_name="review_decision")

    class Meta:
        verbose_name = _("评审输出")
        verbose_name_plural = _("评审输出")
        ordering = ["review_id", "id"]

    def __str__(self) -> str:
        return self.text[:40]
