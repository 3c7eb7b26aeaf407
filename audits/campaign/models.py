"""自查 + 抽查 检查活动 (seed 000 二; seed 004 篇2; seed 001 四(四)) — the committee announces a
campaign with its scope, checklist and deadline; every unit in scope submits a 自查报告 with a
self-score per item and evidence; a 检查组 in teams samples units by proportion and type and
records 实地走访, 查阅档案, 座谈会 and questionnaires with an inspected score per item; findings
are nonconformities (``audits.capa.models``).

States (each in one FSM field):
- ``Campaign.state``: self_check 自查阶段 → inspection 抽查阶段 (the sample is drawn) → closed 已总结;
- ``CampaignUnit.state``: pending 待提交 → submitted 已提交自查 (by the deadline) or overdue
  逾期未提交 (the daily task, after the deadline) → inspected 已检查 (a sampled unit's record).
"""
from __future__ import annotations

from decimal import Decimal

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from audits.capa.models import Nonconformity
from qms.models import ScopedQuerySet, Unit


class Plan(models.Model):
    """三年整治计划 — a multi-year plan whose stages (``rules/plan.toml``: 整治, 提升, 巩固, one a
    year from ``start_year``) are run as campaigns (seed 001 四(四))."""

    scope_unit_lookup = "root"

    title = models.CharField(_("计划名称"), max_length=120)
    root = models.ForeignKey(Unit, verbose_name=_("制定的党组织"), on_delete=models.PROTECT, related_name="+")
    start_year = models.PositiveSmallIntegerField(_("起始年度"))
    source = models.TextField(_("依据"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("制定人"), null=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("三年整治计划")
        verbose_name_plural = _("三年整治计划")
        ordering = ["-start_year", "-id"]

    def __str__(self) -> str:
        return self.title


class CampaignState(models.TextChoices):
    SELF_CHECK = "self_check", _("自查阶段")
    INSPECTION = "inspection", _("抽查阶段")
    CLOSED = "closed", _("已总结")


class Campaign(ConcurrentTransitionMixin, models.Model):
    """检查活动 — one 自查 + 抽查 campaign announced by a committee."""

    scope_unit_lookup = "root"

    title = models.CharField(_("活动名称"), max_length=120)
    root = models.ForeignKey(Unit, verbose_name=_("发起的党组织"), on_delete=models.PROTECT, related_name="+")
    scope_kinds = models.JSONField(_("受检组织类别"), default=list)
    checklist_name = models.CharField(_("检查表"), max_length=120, blank=True)
    checklist_source = models.TextField(_("检查表依据"), blank=True)
    announced_on = models.DateField(_("发布日期"))
    announced_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发布人"), null=True, on_delete=models.PROTECT, related_name="+")
    deadline = models.DateField(_("自查报告截止日期"))
    state = FSMField(_("状态"), max_length=12, choices=CampaignState.choices, default=CampaignState.SELF_CHECK, protected=True)
    sample_seed = models.BigIntegerField(_("抽样种子"), null=True, blank=True)
    sample_size = models.PositiveIntegerField(_("抽查单位数"), null=True, blank=True)
    sample_method = models.CharField(_("抽样方法"), max_length=300, blank=True)
    conclusion = models.TextField(_("检查总结"), blank=True)
    plan = models.ForeignKey(Plan, verbose_name=_("所属计划"), null=True, blank=True, on_delete=models.PROTECT, related_name="campaigns")
    stage = models.CharField(_("计划阶段"), max_length=20, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("检查活动")
        verbose_name_plural = _("检查活动")
        ordering = ["-announced_on", "-id"]

    def __str__(self) -> str:
        return self.title

    @property
    def state_label(self) -> str:
        return CampaignState(self.state).label

    @property
    def max_total(self) -> Decimal:
        return sum((i.max_score for i in self.items.all()), Decimal(0))

    def duties_of(self, user, unit: Unit | None = None) -> set[str]:
        """``audit_team`` for a member of the 检查小组 the unit is assigned to (any team of the
        campaign when no unit is named)."""
        if user is None or getattr(user, "pk", None) is None:
            return set()
        teams = self.teams.filter(members=user)
        if unit is not None:
            teams = teams.filter(units__unit=unit)
        return {"audit_team"} if teams.exists() else set()

    @transition(field=state, source=CampaignState.SELF_CHECK, target=CampaignState.INSPECTION)
    def start_inspection(self) -> None:
        """抽样,进入抽查阶段."""

    @transition(field=state, source=CampaignState.INSPECTION, target=CampaignState.CLOSED)
    def close(self) -> None:
        """总结."""


class CampaignItem(models.Model):
    """检查项 — one criterion of the campaign's checklist, citing its rule, with its most points."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("检查活动"), on_delete=models.CASCADE, related_name="items")
    order = models.PositiveIntegerField(_("顺序"), default=0)
    text = models.CharField(_("检查内容"), max_length=300)
    source = models.CharField(_("依据"), max_length=300)
    max_score = models.DecimalField(_("分值"), max_digits=5, decimal_places=1)

    class Meta:
        verbose_name = _("检查项")
        verbose_name_plural = _("检查项")
        ordering = ["campaign_id", "order", "id"]

    def __str__(self) -> str:
        return self.text


class Team(models.Model):
    """检查小组 — inspectors drawn from the committee's staff; the leader is one of them."""

    campaign = models.ForeignKey(Campaign, verbose_name=_("检查活动"), on_delete=models.CASCADE, related_name="teams")
    name = models.CharField(_("小组名称"), max_length=60)
    leader = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("组长"), on_delete=models.PROTECT, related_name="+")
    members = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("成员"), related_name="+")

    class Meta:
        verbose_name = _("检查小组")
        verbose_name_plural = _("检查小组")
        ordering = ["campaign_id", "id"]
        constraints = [models.UniqueConstraint(fields=["campaign", "name"], name="campaign_team_name_once")]

    def __str__(self) -> str:
        return self.name


class UnitState(models.TextChoices):
    PENDING = "pending", _("待提交自查")
    SUBMITTED = "submitted", _("已提交自查")
    OVERDUE = "overdue", _("逾期未提交")
    INSPECTED = "inspected", _("已检查")


class CampaignUnit(ConcurrentTransitionMixin, models.Model):
    """受检单位 — one unit in the campaign's scope: its 自查报告, whether it was sampled (with the
    stratum and the team), and the inspection record."""

    scope_unit_lookup = "unit"

    campaign = models.ForeignKey(Campaign, verbose_name=_("检查活动"), on_delete=models.CASCADE, related_name="units")
    unit = models.ForeignKey(Unit, verbose_name=_("受检单位"), on_delete=models.PROTECT, related_name="+")
    general_branch = models.ForeignKey(Unit, verbose_name=_("所属党总支"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    state = FSMField(_("状态"), max_length=12, choices=UnitState.choices, default=UnitState.PENDING, protected=True)
    report = models.TextField(_("自查报告"), blank=True)
    submitted_on = models.DateField(_("提交日期"), null=True, blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("提交人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    sampled = models.BooleanField(_("抽中"), default=False)
    stratum = models.CharField(_("抽样层"), max_length=120, blank=True)
    team = models.ForeignKey(Team, verbose_name=_("检查小组"), null=True, blank=True, on_delete=models.PROTECT, related_name="units")
    visited_on = models.DateField(_("实地走访日期"), null=True, blank=True)
    visit_notes = models.TextField(_("实地走访情况"), blank=True)
    archive_notes = models.TextField(_("查阅档案情况"), blank=True)
    forum_sessions = models.PositiveIntegerField(_("座谈会场次"), default=0)
    forum_attendance = models.PositiveIntegerField(_("座谈会参加人次"), default=0)
    forum_notes = models.TextField(_("座谈会情况"), blank=True)
    questionnaires_issued = models.PositiveIntegerField(_("发放问卷份数"), default=0)
    questionnaires_returned = models.PositiveIntegerField(_("收回问卷份数"), default=0)
    questionnaires_satisfied = models.PositiveIntegerField(_("满意问卷份数"), default=0)
    inspected_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("检查记录人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("受检单位")
        verbose_name_plural = _("受检单位")
        ordering = ["campaign_id", "unit__path"]
        constraints = [models.UniqueConstraint(fields=["campaign", "unit"], name="campaign_unit_once")]

    def __str__(self) -> str:
        return f"{self.campaign} · {self.unit}"

    @property
    def state_label(self) -> str:
        return UnitState(self.state).label

    @transition(field=state, source=UnitState.PENDING, target=UnitState.SUBMITTED)
    def submit(self) -> None:
        """按期提交自查报告."""

    @transition(field=state, source=UnitState.PENDING, target=UnitState.OVERDUE)
    def miss(self) -> None:
        """截止日期已过,未提交."""

    @transition(field=state, source=[UnitState.SUBMITTED, UnitState.OVERDUE], target=UnitState.INSPECTED)
    def inspect(self) -> None:
        """抽查:检查记录已登记."""


class ItemScore(models.Model):
    """一项得分 — the unit's self-score and the inspectors' score on one item, side by side."""

    scope_unit_lookup = "entry__unit"

    entry = models.ForeignKey(CampaignUnit, verbose_name=_("受检单位"), on_delete=models.CASCADE, related_name="scores")
    item = models.ForeignKey(CampaignItem, verbose_name=_("检查项"), on_delete=models.CASCADE, related_name="scores")
    self_score = models.DecimalField(_("自评分"), max_digits=5, decimal_places=1, null=True, blank=True)
    self_note = models.TextField(_("自查说明"), blank=True)
    inspected_score = models.DecimalField(_("检查得分"), max_digits=5, decimal_places=1, null=True, blank=True)
    inspected_note = models.TextField(_("检查意见"), blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("检查项得分")
        verbose_name_plural = _("检查项得分")
        ordering = ["entry_id", "item__order", "item_id"]
        constraints = [models.UniqueConstraint(fields=["entry", "item"], name="campaign_score_once")]

    def __str__(self) -> str:
        return f"{self.entry.unit} · {self.item}"

    @property
    def difference(self) -> Decimal | None:
        """检查得分 − 自评分 (negative: the unit scored itself higher than the inspectors did)."""
        if self.self_score is None or self.inspected_score is None:
            return None
        return self.inspected_score - self.self_score


class SelfEvidence(models.Model):
    """自查佐证材料 — a file attached to a 自查报告, stored under its SHA-256."""

    scope_unit_lookup = "entry__unit"

    entry = models.ForeignKey(CampaignUnit, verbose_name=_("受检单位"), on_delete=models.PROTECT, related_name="evidence")
    name = models.CharField(_("文件名"), max_length=120)
    content_type = models.CharField(_("类型"), max_length=255)
    size = models.PositiveIntegerField(_("大小"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    file = models.FileField(_("文件"), upload_to="campaign/%Y/%m/")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("上传人"), null=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("自查佐证材料")
        verbose_name_plural = _("自查佐证材料")

    def __str__(self) -> str:
        return self.name


class Finding(models.Model):
    """检查发现 — a problem found at a sampled unit, raised as a nonconformity (source 督查)."""

    scope_unit_lookup = "entry__unit"

    entry = models.ForeignKey(CampaignUnit, verbose_name=_("受检单位"), on_delete=models.PROTECT, related_name="findings")
    item = models.ForeignKey(CampaignItem, verbose_name=_("检查项"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    nonconformity = models.OneToOneField(Nonconformity, verbose_name=_("不符合项"), on_delete=models.PROTECT, related_name="campaign_finding")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("检查发现")
        verbose_name_plural = _("检查发现")
        ordering = ["entry_id", "id"]

    def __str__(self) -> str:
        return str(self.nonconformity)
