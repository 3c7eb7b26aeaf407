"""考核等次与结果运用 — the year's fixed results per unit (score, rank within its kind, grade),
appeals against them, and the individual annual appraisals the results bar from 优秀 (seed 001
四(三)). Re-exported by ``audits.performance.models``."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from qms.models import Member, ScopedQuerySet, Unit


class AssessmentResult(models.Model):
    """年度考核结果 — one unit's result of a scheme's year: the 全年点评 total as fixed, its rank
    among the units of its kind (分类考核), its grade (the bands of ``rules/grades.toml``) and, where
    the committee weighs 党建 into the unit's overall target score, that overall score."""

    scope_unit_lookup = "unit"

    scheme = models.ForeignKey("audits.ScoringScheme", verbose_name=_("考核方案"), on_delete=models.PROTECT,
                               related_name="results")
    unit = models.ForeignKey(Unit, verbose_name=_("被考核组织"), on_delete=models.PROTECT, related_name="+")
    score = models.DecimalField(_("得分(百分制)"), max_digits=5, decimal_places=1)
    rank = models.PositiveSmallIntegerField(_("同类排名"))
    of = models.PositiveSmallIntegerField(_("同类组织数"))
    grade = models.CharField(_("等次"), max_length=10)
    business_score = models.DecimalField(_("业务工作得分"), max_digits=5, decimal_places=1, null=True, blank=True)
    fixed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("评定人"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    fixed_at = models.DateTimeField(_("评定时间"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("年度考核结果")
        verbose_name_plural = _("年度考核结果")
        ordering = ["scheme_id", "unit__kind", "rank", "unit__path"]
        constraints = [models.UniqueConstraint(fields=["scheme", "unit"], name="one_result_per_unit_and_scheme")]

    def __str__(self) -> str:
        return f"{self.unit} {self.scheme.year} {self.grade}"


class AppealState(models.TextChoices):
    SUBMITTED = "submitted", _("已提出,待处理")
    UPHELD = "upheld", _("申诉成立,结果已更正")
    REJECTED = "rejected", _("申诉不成立,维持原结果")


class Appeal(ConcurrentTransitionMixin, models.Model):
    """申诉 — a unit's appeal against its result, decided by the organisation that assessed it."""

    scope_unit_lookup = "result__unit"

    result = models.ForeignKey(AssessmentResult, verbose_name=_("考核结果"), on_delete=models.PROTECT, related_name="appeals")
    reason = models.TextField(_("申诉理由"))
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("申诉人"), null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    submitted_on = models.DateField(_("申诉日期"), default=timezone.localdate)
    state = FSMField(_("处理结果"), max_length=10, choices=AppealState.choices, default=AppealState.SUBMITTED, protected=True)
    decision = models.TextField(_("处理意见"), blank=True)
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("处理人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    decided_on = models.DateField(_("处理日期"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("考核结果申诉")
        verbose_name_plural = _("考核结果申诉")
        ordering = ["-submitted_on", "-id"]

    def __str__(self) -> str:
        return f"{self.result.unit} 申诉({self.get_state_display()})"

    @transition(field=state, source=AppealState.SUBMITTED, target=AppealState.UPHELD)
    def uphold(self) -> None:
        """申诉成立."""

    @transition(field=state, source=AppealState.SUBMITTED, target=AppealState.REJECTED)
    def reject(self) -> None:
        """申诉不成立."""


class Appraisal(models.Model):
    """个人年度考核等次 — a person's annual appraisal grade as recorded by the committee; a 党组织
    负责人 whose unit's 党建考核 is not 优秀 cannot be 优秀 (seed 001 四(三))."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    member = models.ForeignKey(Member, verbose_name=_("人员"), on_delete=models.PROTECT, related_name="appraisals")
    grade = models.CharField(_("考核等次"), max_length=10)
    note = models.CharField(_("说明"), max_length=300, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("个人年度考核等次")
        verbose_name_plural = _("个人年度考核等次")
        ordering = ["year", "member__name"]
        constraints = [models.UniqueConstraint(fields=["year", "member"], name="one_appraisal_per_person_and_year")]

    def __str__(self) -> str:
        return f"{self.member} {self.year} {self.grade}"
