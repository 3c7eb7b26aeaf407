"""内部审核 (ISO 9001 §9.2, ISO 19011) — the yearly programme, each audit with its plan, team,
checklist, sampled records and opening/closing meetings; findings are nonconformities
(``audits.capa.models``)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from audits.capa.models import Nonconformity
from qms.models import Member, ScopedQuerySet, Unit
from workflows.models import Occurrence


class AuditState(models.TextChoices):
    PLANNED = "planned", _("已计划")
    IN_PROGRESS = "in_progress", _("实施中")
    REPORTED = "reported", _("已出报告")


class Audit(ConcurrentTransitionMixin, models.Model):
    """审核 — one internal audit (ISO 9001 §9.2, ISO 19011 §6): scope, criteria, team, dates."""

    scope_unit_lookup = "root"

    year = models.PositiveSmallIntegerField(_("审核方案年度"))
    title = models.CharField(_("审核名称"), max_length=120)
    root = models.ForeignKey(Unit, verbose_name=_("组织审核的党组织"), on_delete=models.PROTECT, related_name="+")
    units = models.ManyToManyField(Unit, verbose_name=_("受审核组织"), related_name="audits")
    documents = models.ManyToManyField("procedures.Document", verbose_name=_("审核准则(程序文件)"), blank=True, related_name="+")
    clauses = models.CharField(_("ISO 条款"), max_length=200, blank=True)
    objectives = models.TextField(_("审核目的"), blank=True)
    lead = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("审核组长"), on_delete=models.PROTECT, related_name="+")
    team = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("审核组成员"), blank=True, related_name="+")
    start = models.DateField(_("开始日期"))
    end = models.DateField(_("结束日期"))
    state = FSMField(_("状态"), max_length=12, choices=AuditState.choices, default=AuditState.PLANNED, protected=True)
    sample_seed = models.BigIntegerField(_("抽样种子"), null=True, blank=True)
    sample_method = models.CharField(_("抽样方法"), max_length=200, blank=True)
    conclusion = models.TextField(_("审核结论"), blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("内部审核")
        verbose_name_plural = _("内部审核")
        ordering = ["-start"]

    def __str__(self) -> str:
        return self.title

    def duties_of(self, user) -> set[str]:
        """``audit_team`` when ``user`` is the audit's lead or on its team (ISO 19011 §5.5.4), and
        ``audit_lead`` for the lead (who chairs its meetings, §6.4.3) — the duties the permission
        matrix names for the audit's acts and for raising its findings."""
        if user is None or getattr(user, "pk", None) is None:
            return set()
        if user.pk == self.lead_id:
            return {"audit_team", "audit_lead"}
        return {"audit_team"} if self.team.filter(pk=user.pk).exists() else set()

    @transition(field=state, source=AuditState.PLANNED, target=AuditState.IN_PROGRESS)
    def open_meeting(self) -> None:
        """首次会议."""

    @transition(field=state, source=AuditState.IN_PROGRESS, target=AuditState.REPORTED)
    def report(self) -> None:
        """末次会议,出具报告."""


class ItemResult(models.TextChoices):
    UNCHECKED = "", _("未检查")
    CONFORM = "conform", _("符合")
    NONCONFORM = "nonconform", _("不符合")
    OBSERVATION = "observation", _("观察项")
    NA = "na", _("不适用")


class ChecklistItem(models.Model):
    """检查表条目 — generated from the scope, editable by the auditors."""

    audit = models.ForeignKey(Audit, verbose_name=_("审核"), on_delete=models.CASCADE, related_name="items")
    order = models.PositiveIntegerField(_("顺序"), default=0)
    unit = models.ForeignKey(Unit, verbose_name=_("受审核组织"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    clause = models.CharField(_("条款"), max_length=60)
    text = models.CharField(_("检查内容"), max_length=300)
    result = models.CharField(_("结论"), max_length=12, choices=ItemResult.choices, blank=True, default="")
    note = models.TextField(_("检查记录"), blank=True)
    evidence = models.ManyToManyField(Occurrence, verbose_name=_("查阅的记录"), blank=True, related_name="+")
    finding = models.OneToOneField(Nonconformity, verbose_name=_("审核发现"), null=True, blank=True, on_delete=models.PROTECT, related_name="checklist_item")

    class Meta:
        verbose_name = _("检查表条目")
        verbose_name_plural = _("检查表条目")
        ordering = ["audit_id", "order", "id"]

    def __str__(self) -> str:
        return self.text


class SampledRecord(models.Model):
    """抽样 — a record drawn for examination, with the stratum it was drawn from."""

    audit = models.ForeignKey(Audit, verbose_name=_("审核"), on_delete=models.CASCADE, related_name="sample")
    occurrence = models.ForeignKey(Occurrence, verbose_name=_("记录"), on_delete=models.PROTECT, related_name="+")
    stratum = models.CharField(_("抽样层"), max_length=60)

    class Meta:
        verbose_name = _("抽样记录")
        verbose_name_plural = _("抽样记录")
        constraints = [models.UniqueConstraint(fields=["audit", "occurrence"], name="sample_once")]

    def __str__(self) -> str:
        return f"{self.audit} · {self.occurrence}"


class ProgrammeEntry(models.Model):
    """审核方案条目 — one unit in the year's audit programme, with its priority and the reason."""

    scope_unit_lookup = "unit"

    year = models.PositiveSmallIntegerField(_("年度"))
    root = models.ForeignKey(Unit, verbose_name=_("编制组织"), on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey(Unit, verbose_name=_("受审核组织"), on_delete=models.PROTECT, related_name="+")
    priority = models.PositiveSmallIntegerField(_("优先级"), help_text=_("1 最高"))
    reason = models.CharField(_("理由"), max_length=200)
    quarter = models.PositiveSmallIntegerField(_("计划季度"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("审核方案条目")
        verbose_name_plural = _("审核方案条目")
        ordering = ["year", "priority", "unit_id"]
        constraints = [models.UniqueConstraint(fields=["year", "root", "unit"], name="programme_unit_once")]

    def __str__(self) -> str:
        return f"{self.year} {self.unit}"


class ChecklistTemplate(models.Model):
    """检查表模板 — a reusable list of (clause, text) items, applied to each audited unit."""

    scope_unit_lookup = "root"

    name = models.CharField(_("模板名称"), max_length=80)
    root = models.ForeignKey(Unit, verbose_name=_("所属组织"), on_delete=models.PROTECT, related_name="+")
    items = models.JSONField(_("检查内容"), default=list, help_text=_("[{clause, text}, …]"))
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("创建人"), null=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("检查表模板")
        verbose_name_plural = _("检查表模板")
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["root", "name"], name="checklist_template_name_once")]

    def __str__(self) -> str:
        return self.name


class MeetingKind(models.TextChoices):
    OPENING = "opening", _("首次会议")
    CLOSING = "closing", _("末次会议")


class AuditMeeting(models.Model):
    """首次/末次会议记录 — when, where, who attended (auditors and auditees), what was said."""

    audit = models.ForeignKey(Audit, verbose_name=_("审核"), on_delete=models.PROTECT, related_name="meetings")
    kind = models.CharField(_("会议"), max_length=10, choices=MeetingKind.choices)
    held_on = models.DateField(_("日期"))
    place = models.CharField(_("地点"), max_length=120)
    auditors = models.ManyToManyField(settings.AUTH_USER_MODEL, verbose_name=_("出席审核员"), related_name="+")
    auditees = models.ManyToManyField(Member, verbose_name=_("受审核方出席人员"), related_name="+")
    notes = models.TextField(_("会议内容"))

    class Meta:
        verbose_name = _("审核会议")
        verbose_name_plural = _("审核会议")
        ordering = ["audit_id", "held_on"]
        constraints = [models.UniqueConstraint(fields=["audit", "kind"], name="one_meeting_of_each_kind")]

    def __str__(self) -> str:
        return f"{self.audit} {self.get_kind_display()}"
