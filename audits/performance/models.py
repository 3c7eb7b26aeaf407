"""方针目标与考核 — objectives per organisation and year, the scoring scheme with its items and
inspectors' scores, and the hand-entered part of the annual statistics form (seed 004 篇5)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from qms.models import ScopedQuerySet, Unit


class Comparator(models.TextChoices):
    AT_LEAST = "ge", "≥"
    AT_MOST = "le", "≤"


#: an objective's ``indicator`` for a count target: this prefix and the key of an item of the
#: yearly form (rules/annual_stats.toml)
COUNT_PREFIX = "count:"


class Objective(models.Model):
    """党建目标 — a yearly target on an indicator computed from the data (see ``indicators``)."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    indicator = models.CharField(_("指标"), max_length=40)
    title = models.CharField(_("目标"), max_length=120)
    comparator = models.CharField(_("比较"), max_length=2, choices=Comparator.choices, default=Comparator.AT_LEAST)
    target = models.DecimalField(_("目标值(%)"), max_digits=5, decimal_places=1)
    #: a count target (``indicator`` = "count:" + an item of the yearly form, seed 004 篇5): the
    #: number aimed at; ``target`` is then 100 — the count reached is the share 实际 ÷ 目标数量
    count_target = models.DecimalField(_("目标数量"), max_digits=12, decimal_places=2, null=True, blank=True)
    source = models.CharField(_("依据"), max_length=200)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("党建目标")
        verbose_name_plural = _("党建目标")
        ordering = ["root_id", "year", "id"]
        constraints = [models.UniqueConstraint(fields=["root", "year", "indicator"], name="objective_once")]

    def __str__(self) -> str:
        return f"{self.year} {self.title}"

    @property
    def count_key(self) -> str:
        """The yearly form's item a count target is on ("" for a rate)."""
        return self.indicator.removeprefix(COUNT_PREFIX) if self.indicator.startswith(COUNT_PREFIX) else ""

    def met(self, value: float | None) -> bool | None:
        """Whether an indicator value (a 0–1 share) meets the target; None when not measurable."""
        if value is None:
            return None
        pct = round(value * 100, 1)
        return pct >= float(self.target) if self.comparator == Comparator.AT_LEAST else pct <= float(self.target)


class ScoringScheme(models.Model):
    """考核方案 — 季度督查、半年考核、全年点评 (seed 001 四(三)) with weighted items."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    title = models.CharField(_("名称"), max_length=120)
    source = models.CharField(_("依据"), max_length=200)
    #: [{"key", "name", "from", "to"}] — months of the scheme's year, copied from the defaults
    #: (rules/objectives.toml) when the scheme is set up; ``scoring.scheme_rounds_set`` changes them
    rounds = models.JSONField(_("考核轮次"), default=list, blank=True)
    rounds_source = models.CharField(_("考核轮次依据"), max_length=200, blank=True)
    scored_kinds = models.JSONField(_("被考核组织类别"), default=list, blank=True)
    scored_kinds_source = models.CharField(_("被考核组织依据"), max_length=200, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("考核方案")
        verbose_name_plural = _("考核方案")
        constraints = [models.UniqueConstraint(fields=["root", "year"], name="one_scheme_per_year")]

    def __str__(self) -> str:
        return self.title


class ScoringItem(models.Model):
    """考核项目 — worth ``points``; computed from an indicator, or entered by the inspectors."""

    scheme = models.ForeignKey(ScoringScheme, verbose_name=_("考核方案"), on_delete=models.CASCADE, related_name="items")
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)
    title = models.CharField(_("考核内容"), max_length=120)
    points = models.DecimalField(_("分值"), max_digits=5, decimal_places=1)
    indicator = models.CharField(_("计算指标"), max_length=40, blank=True, help_text=_("空表示由督查人员评分"))
    #: 分类考核: the unit kinds this item scores (empty: every kind the scheme scores)
    kinds = models.JSONField(_("适用组织类别"), default=list, blank=True)
    source = models.CharField(_("依据"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("考核项目")
        verbose_name_plural = _("考核项目")
        ordering = ["scheme_id", "order", "id"]

    def __str__(self) -> str:
        return self.title


class Score(models.Model):
    """评分 — an inspector's score for one item, unit and round (the key of one of the scheme's
    rounds: Q1–Q4 督查, H1/H2 考核, Y 点评 by default)."""

    scope_unit_lookup = "unit"

    item = models.ForeignKey(ScoringItem, verbose_name=_("考核项目"), on_delete=models.PROTECT, related_name="scores")
    unit = models.ForeignKey(Unit, verbose_name=_("被考核组织"), on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("考核轮次"), max_length=8)
    value = models.DecimalField(_("得分"), max_digits=5, decimal_places=1)
    note = models.CharField(_("评分说明"), max_length=300)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("评分人"), null=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("评分")
        verbose_name_plural = _("评分")
        constraints = [models.UniqueConstraint(fields=["item", "unit", "period"], name="one_score_per_round")]

    def __str__(self) -> str:
        return f"{self.unit} {self.period} {self.item}: {self.value}"


class AnnualReport(models.Model):
    """年度党建工作统计 — the hand-entered part of the yearly form (seed 004 篇5); the rest is
    counted from the records when the form is shown. ``values``: {key: {value, note, by, at}}."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    values = models.JSONField(_("手工填报"), default=dict, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("年度党建工作统计")
        verbose_name_plural = _("年度党建工作统计")
        constraints = [models.UniqueConstraint(fields=["root", "year"], name="one_annual_report")]

    def __str__(self) -> str:
        return f"{self.root} {self.year}"


class Target(models.Model):
    """分解目标 — one node of the yearly 方针目标 broken down 层层下达 (seed 004 篇4) to 总支, 支部,
    党小组 and each member (篇7 人人有指标, 篇8): an owner (a 党组织, or a 党员 with ``member``
    set — ``unit`` is then the member's 党小组 or 党支部), a measure of ``rules/targets.toml``
    (computed from the records or reported by the owner), a target value and a due date.

    Its progress is never stored: computed, reported (``TargetReport``) or rolled up from its
    children when it has any (``targets.progress``)."""

    scope_unit_lookup = "unit"

    parent = models.ForeignKey("self", verbose_name=_("上级目标"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="children")
    unit = models.ForeignKey(Unit, verbose_name=_("责任组织"), on_delete=models.PROTECT, related_name="+")
    member = models.ForeignKey("qms.Member", verbose_name=_("责任党员"), null=True, blank=True, on_delete=models.PROTECT,
                               related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    measure = models.CharField(_("指标"), max_length=40)
    title = models.CharField(_("目标"), max_length=120)
    value = models.DecimalField(_("目标值"), max_digits=12, decimal_places=2)
    due_date = models.DateField(_("完成期限"))
    source = models.CharField(_("依据"), max_length=200, blank=True)
    #: the improvement ticket raised when the due date passed unmet (once per target)
    nonconformity = models.OneToOneField("audits.Nonconformity", verbose_name=_("未完成立项"), null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="missed_target")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("分解目标")
        verbose_name_plural = _("分解目标")
        ordering = ["year", "unit__path", "member_id", "id"]

    def __str__(self) -> str:
        return f"{self.year} {self.title}"

    @property
    def owner_name(self) -> str:
        return self.member.name if self.member_id else self.unit.name


class TargetReport(models.Model):
    """目标进度填报 — the owner's (or its 书记's) figure reached so far, with a note; the latest counts."""

    scope_unit_lookup = "target__unit"

    target = models.ForeignKey(Target, verbose_name=_("目标"), on_delete=models.PROTECT, related_name="reports")
    value = models.DecimalField(_("完成值"), max_digits=12, decimal_places=2)
    note = models.CharField(_("说明"), max_length=300)
    reported_on = models.DateField(_("填报日期"))
    reported_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("填报人"), null=True, on_delete=models.PROTECT,
                                    related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("目标进度填报")
        verbose_name_plural = _("目标进度填报")
        ordering = ["target_id", "reported_on", "id"]

    def __str__(self) -> str:
        return f"{self.target} {self.value}"


class TargetTask(models.Model):
    """月度重点工作 — a task of a target in one month of its year (seed 004 篇8: 党委工作每月列出重点,
    将重点工作列出任务和时间控制表), done or not, with the date it was done."""

    scope_unit_lookup = "target__unit"

    target = models.ForeignKey(Target, verbose_name=_("目标"), on_delete=models.PROTECT, related_name="tasks")
    month = models.PositiveSmallIntegerField(_("月份"))
    text = models.CharField(_("重点工作"), max_length=200)
    done_on = models.DateField(_("完成日期"), null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("月度重点工作")
        verbose_name_plural = _("月度重点工作")
        ordering = ["target_id", "month", "id"]
        constraints = [models.CheckConstraint(condition=models.Q(month__gte=1, month__lte=12), name="target_task_month")]

    def __str__(self) -> str:
        return f"{self.month}月 {self.text}"


# 考核等次与结果运用 (its own module; re-exported so Django registers the models with the app)
from audits.performance.grade_models import Appeal, AppealState, Appraisal, AssessmentResult  # noqa: E402,F401
