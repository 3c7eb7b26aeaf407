"""考核必有效 — nonconformities (不符合项) and their corrective action (纠正措施, ISO 9001 §10.2)
as one state machine per nonconformity, and the problem register (问题清单/台账, seed 001 四(四),
seed 003 《问题整改反馈单》).

States (the one place they live is ``Nonconformity.state``):
raised 已提出 → acknowledged 已确认 → analysed 已分析原因 → planned 已制定措施 → implemented
已实施 → verified 已验证 (or back to planned, rejected with a reason) → closed 已关闭 →
effective 有效 / ineffective 无效 (which raises a new, linked nonconformity).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from qms.models import Member, ScopedQuerySet, Unit
from workflows.models import Occurrence


class Grade(models.TextChoices):
    MAJOR = "major", _("严重不符合")
    MINOR = "minor", _("一般不符合")
    OBSERVATION = "observation", _("观察项")
    IMPROVEMENT = "improvement", _("改进项")


class NCSource(models.TextChoices):
    INTERNAL_AUDIT = "internal_audit", _("内部审核")
    GAP = "gap", _("执行缺口")
    SPOT_CHECK = "spot_check", _("督查")
    LIFE_MEETING = "life_meeting", _("组织生活会整改措施")
    EXTERNAL_AUDIT = "external_audit", _("外部审核")
    REVIEW = "review", _("管理评审")
    FOLLOW_UP = "follow_up", _("整改无效再立项")
    TARGET_MISSED = "target_missed", _("目标未完成")
    RISK = "risk", _("风险应对")


class NCState(models.TextChoices):
    RAISED = "raised", _("已提出")
    ACKNOWLEDGED = "acknowledged", _("已确认")
    ANALYSED = "analysed", _("已分析原因")
    PLANNED = "planned", _("已制定措施")
    IMPLEMENTED = "implemented", _("已实施")
    VERIFIED = "verified", _("已验证")
    CLOSED = "closed", _("已关闭")
    EFFECTIVE = "effective", _("有效")
    INEFFECTIVE = "ineffective", _("无效")


OPEN_STATES = (NCState.RAISED, NCState.ACKNOWLEDGED, NCState.ANALYSED, NCState.PLANNED, NCState.IMPLEMENTED, NCState.VERIFIED)
RECTIFIED_STATES = (NCState.CLOSED, NCState.EFFECTIVE, NCState.INEFFECTIVE)


def has_root_cause(nc: Nonconformity) -> bool:
    return bool((nc.root_cause or "").strip())


def has_plan(nc: Nonconformity) -> bool:
    return bool((nc.correction or "").strip() and (nc.corrective_action or "").strip() and nc.owner_id and nc.due_date)


def has_evidence(nc: Nonconformity) -> bool:
    return bool((nc.implementation_evidence or "").strip())


def effectiveness_review_due(nc: Nonconformity) -> bool:
    return nc.effectiveness_due is None or nc.effectiveness_due <= timezone.localdate()


class Nonconformity(ConcurrentTransitionMixin, models.Model):
    """不符合项 — with its corrective-action ticket."""

    scope_unit_lookup = "unit"

    code = models.CharField(_("编号"), max_length=20, unique=True)
    unit = models.ForeignKey(Unit, verbose_name=_("责任组织"), on_delete=models.PROTECT, related_name="nonconformities")
    source = models.CharField(_("来源"), max_length=20, choices=NCSource.choices)
    grade = models.CharField(_("等级"), max_length=12, choices=Grade.choices)
    clause = models.CharField(_("条款"), max_length=60, help_text=_("ISO 9001 条款或程序文件编号"))
    requirement = models.TextField(_("要求"))
    evidence = models.TextField(_("客观证据"))
    occurrence = models.ForeignKey(Occurrence, verbose_name=_("相关事项"), null=True, blank=True, on_delete=models.PROTECT, related_name="nonconformities")
    audit = models.ForeignKey("Audit", verbose_name=_("所属审核"), null=True, blank=True, on_delete=models.PROTECT, related_name="findings")
    follows = models.ForeignKey("self", verbose_name=_("前序不符合项"), null=True, blank=True, on_delete=models.PROTECT, related_name="successors")
    state = FSMField(_("状态"), max_length=14, choices=NCState.choices, default=NCState.RAISED, protected=True)
    raised_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("提出人"), null=True, on_delete=models.PROTECT, related_name="+")
    raised_on = models.DateField(_("提出日期"))
    acknowledged_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("确认人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    why = models.JSONField(_("五问法"), default=list, blank=True)
    root_cause = models.TextField(_("根本原因"), blank=True)
    correction = models.TextField(_("纠正(立即处置)"), blank=True)
    corrective_action = models.TextField(_("纠正措施(针对原因)"), blank=True)
    owner = models.ForeignKey(Member, verbose_name=_("整改责任人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField(_("整改期限"), null=True, blank=True)
    implemented_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("实施登记人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    implemented_on = models.DateField(_("实施完成日期"), null=True, blank=True)
    implementation_evidence = models.TextField(_("整改证据"), blank=True)
    verified_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("验证人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    verification_note = models.TextField(_("验证意见"), blank=True)
    closed_on = models.DateField(_("关闭日期"), null=True, blank=True)
    effectiveness_due = models.DateField(_("有效性评价日期"), null=True, blank=True)
    effectiveness_note = models.TextField(_("有效性评价"), blank=True)
    requires_document = models.ForeignKey("procedures.Document", verbose_name=_("须修订的程序文件"), null=True, blank=True,
                                          on_delete=models.PROTECT, related_name="+",
                                          help_text=_("改进须发布该文件的新版本后才能验证"))
    document_baseline = models.ForeignKey("procedures.DocumentVersion", verbose_name=_("立项时的现行版本"), null=True, blank=True,
                                          on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("不符合项")
        verbose_name_plural = _("不符合项")
        ordering = ["-raised_on", "-id"]
        # The register's first page: the newest 100 in this order, read off the index.
        indexes = [models.Index(fields=["-raised_on", "-id"], name="nc_register_order")]

    def __str__(self) -> str:
        return f"{self.code} {self.unit}"

    @property
    def overdue(self) -> bool:
        return self.state in OPEN_STATES and self.due_date is not None and self.due_date < timezone.localdate()

    # The labels by enum lookup: ``get_FOO_display`` rebuilds a hashable dict of the lazy
    # choices on every call, which was a third of the register page's rendering (100 rows × 3).
    @property
    def grade_label(self) -> str:
        return Grade(self.grade).label

    @property
    def source_label(self) -> str:
        return NCSource(self.source).label

    @property
    def state_label(self) -> str:
        return NCState(self.state).label

    @transition(field=state, source=NCState.RAISED, target=NCState.ACKNOWLEDGED)
    def acknowledge(self) -> None:
        """受审核方确认."""

    @transition(field=state, source=NCState.ACKNOWLEDGED, target=NCState.ANALYSED, conditions=[has_root_cause])
    def analyse(self) -> None:
        """原因分析."""

    @transition(field=state, source=NCState.ANALYSED, target=NCState.PLANNED, conditions=[has_plan])
    def plan(self) -> None:
        """制定纠正和纠正措施."""

    @transition(field=state, source=NCState.PLANNED, target=NCState.IMPLEMENTED, conditions=[has_evidence])
    def implement(self) -> None:
        """实施(附证据)."""

    @transition(field=state, source=NCState.IMPLEMENTED, target=NCState.VERIFIED)
    def verify(self) -> None:
        """审核员验证."""

    @transition(field=state, source=NCState.IMPLEMENTED, target=NCState.PLANNED)
    def reject(self) -> None:
        """验证未通过,退回."""

    @transition(field=state, source=NCState.VERIFIED, target=NCState.CLOSED)
    def close(self) -> None:
        """关闭."""

    @transition(field=state, source=NCState.CLOSED, target=NCState.EFFECTIVE, conditions=[effectiveness_review_due])
    def confirm_effective(self) -> None:
        """有效性评价:有效."""

    @transition(field=state, source=NCState.CLOSED, target=NCState.INEFFECTIVE, conditions=[effectiveness_review_due])
    def confirm_ineffective(self) -> None:
        """有效性评价:无效(另立新的不符合项)."""


class NCAttachment(models.Model):
    """整改证据附件 — a file proving the corrective action was implemented, stored under its
    SHA-256 like a record's attachment."""

    scope_unit_lookup = "nonconformity__unit"

    nonconformity = models.ForeignKey(Nonconformity, verbose_name=_("不符合项"), on_delete=models.PROTECT, related_name="attachments")
    name = models.CharField(_("文件名"), max_length=120)
    content_type = models.CharField(_("类型"), max_length=255)  # an Office type is up to 73 characters (.pptx)
    size = models.PositiveIntegerField(_("大小"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    file = models.FileField(_("文件"), upload_to="nc/%Y/%m/")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("上传人"), null=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("整改证据附件")
        verbose_name_plural = _("整改证据附件")

    def __str__(self) -> str:
        return self.name
