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


# --------------------------------------------------------------------------- internal audit


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


# ------------------------------------------------------------------- 管理评审 (ISO 9001 §9.3)


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


# ------------------------------------------------------------- 目标、指标与考核 (方针目标)


class Comparator(models.TextChoices):
    AT_LEAST = "ge", "≥"
    AT_MOST = "le", "≤"


class Objective(models.Model):
    """党建目标 — a yearly target on an indicator computed from the data (see ``indicators``)."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    year = models.PositiveSmallIntegerField(_("年度"))
    indicator = models.CharField(_("指标"), max_length=40)
    title = models.CharField(_("目标"), max_length=120)
    comparator = models.CharField(_("比较"), max_length=2, choices=Comparator.choices, default=Comparator.AT_LEAST)
    target = models.DecimalField(_("目标值(%)"), max_digits=5, decimal_places=1)
    source = models.CharField(_("依据"), max_length=200)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("党建目标")
        verbose_name_plural = _("党建目标")
        ordering = ["root_id", "year", "id"]
        constraints = [models.UniqueConstraint(fields=["root", "year", "indicator"], name="objective_once")]

    def __str__(self) -> str:
        return f"{self.year} {self.title}"

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

    class Meta:
        verbose_name = _("考核项目")
        verbose_name_plural = _("考核项目")
        ordering = ["scheme_id", "order", "id"]

    def __str__(self) -> str:
        return self.title


class Score(models.Model):
    """评分 — an inspector's score for one item, unit and round (Q1–Q4 督查, H1/H2 考核, Y 点评)."""

    scope_unit_lookup = "unit"

    item = models.ForeignKey(ScoringItem, verbose_name=_("考核项目"), on_delete=models.PROTECT, related_name="scores")
    unit = models.ForeignKey(Unit, verbose_name=_("被考核组织"), on_delete=models.PROTECT, related_name="+")
    period = models.CharField(_("考核轮次"), max_length=2)
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


# --------------------------------------------------------------------- 认证证据包 (有效必鉴证)


class PackState(models.TextChoices):
    QUEUED = "queued", _("排队中")
    RUNNING = "running", _("生成中")
    DONE = "done", _("已完成")
    FAILED = "failed", _("失败")


class EvidencePack(ConcurrentTransitionMixin, models.Model):
    """认证证据包 — one PDF/A-3b plus a ZIP (attachments + manifest) for a unit's subtree and a
    period, built by a background task; its SHA-256 values and the ledger head are kept."""

    scope_unit_lookup = "root"
    #: progress, and the liveness of the process building it (qms/jobs.py), are not record changes;
    #: the outcome is: a pack taken for dead is failed, with the reason, by ``packs.pack_reap_stale``
    ledger_exclude = ("percent", "chapter", "heartbeat_at", "worker_host", "worker_pid", "worker_process")

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    start = models.DateField(_("期间开始"))
    end = models.DateField(_("期间结束"))
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("申请人"), on_delete=models.PROTECT, related_name="+")
    requested_at = models.DateTimeField(_("申请时间"), auto_now_add=True)
    state = FSMField(_("状态"), max_length=10, choices=PackState.choices, default=PackState.QUEUED, protected=True)
    percent = models.PositiveSmallIntegerField(_("进度"), default=0)
    chapter = models.CharField(_("当前章节"), max_length=120, blank=True)
    pdf = models.FileField(_("PDF/A"), upload_to="packs/", blank=True)
    zip = models.FileField(_("ZIP"), upload_to="packs/", blank=True)
    pdf_sha256 = models.CharField(_("PDF SHA-256"), max_length=64, blank=True)
    zip_sha256 = models.CharField(_("ZIP SHA-256"), max_length=64, blank=True)
    pages = models.PositiveIntegerField(_("页数"), default=0)
    ledger_seq = models.BigIntegerField(_("留痕序号"), null=True, blank=True)
    ledger_hash = models.CharField(_("留痕哈希"), max_length=64, blank=True)
    missing = models.JSONField(_("缺失附件"), default=list, blank=True)
    error = models.TextField(_("错误"), blank=True)
    finished_at = models.DateTimeField(_("完成时间"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("最近心跳"), null=True, blank=True)
    worker_host = models.CharField(_("生成主机"), max_length=255, blank=True)
    worker_pid = models.PositiveIntegerField(_("生成进程号"), null=True, blank=True)
    worker_process = models.CharField(_("生成进程标识"), max_length=120, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("认证证据包")
        verbose_name_plural = _("认证证据包")
        ordering = ["-requested_at"]

    def __str__(self) -> str:
        return f"{self.root} {self.start:%Y-%m-%d}—{self.end:%Y-%m-%d}"

    @transition(field=state, source=PackState.QUEUED, target=PackState.RUNNING)
    def begin(self) -> None:
        """开始生成 — only a queued pack: a task delivered again for a failed one does nothing."""

    @transition(field=state, source=PackState.FAILED, target=PackState.QUEUED)
    def requeue(self) -> None:
        """重新生成 — asked for by a person who may request the pack."""

    @transition(field=state, source=PackState.RUNNING, target=PackState.DONE)
    def finish(self) -> None:
        """生成完成."""

    @transition(field=state, source=[PackState.QUEUED, PackState.RUNNING], target=PackState.FAILED)
    def fail(self) -> None:
        """生成失败(原因记录在 error)."""


class PackLink(models.Model):
    """外部审核员访问链接 — read-only, for one named auditor and one pack, expiring, revocable;
    only the token's SHA-256 is stored (the link is shown once when issued)."""

    scope_unit_lookup = "pack__root"

    pack = models.ForeignKey(EvidencePack, verbose_name=_("证据包"), on_delete=models.PROTECT, related_name="links")
    auditor_name = models.CharField(_("审核员姓名"), max_length=60)
    organisation = models.CharField(_("认证机构"), max_length=120)
    token_sha256 = models.CharField(_("令牌摘要"), max_length=64, unique=True)
    include_records = models.BooleanField(_("可查阅所引记录"), default=False)
    expires_on = models.DateField(_("有效期至"))
    issued_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("签发人"), on_delete=models.PROTECT, related_name="+")
    issued_at = models.DateTimeField(_("签发时间"), auto_now_add=True)
    revoked_at = models.DateTimeField(_("撤销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("撤销人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("外部审核访问链接")
        verbose_name_plural = _("外部审核访问链接")
        ordering = ["-issued_at"]

    def __str__(self) -> str:
        return f"{self.auditor_name}({self.organisation})"

    def usable(self, today=None) -> bool:
        return self.revoked_at is None and (today or timezone.localdate()) <= self.expires_on


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
