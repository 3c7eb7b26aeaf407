"""体系文件 — controlled documents (ISO 9001 §7.5), their versions, record forms and the
obligations (规定) a procedure version lays down.

A procedure's rules are data: how often, for which units, with which record form, owned
by whom, checked by whom, each with a ``source`` citing the seed or regulation it comes
from. The shipped standard library has ``owner = None``; an organisation issues its own
version of a library document (``based_on``) to override what its own 制度 says, and the
units below inherit the nearest ancestor's effective version (``procedures.rules``).
"""
from __future__ import annotations

import calendar
import datetime as dt
import math

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, FSMModelMixin, transition

from qms.models import PositionTitle, Unit, UnitKind


class DocumentKind(models.TextChoices):
    MANUAL = "manual", _("手册")
    PROCEDURE = "procedure", _("程序文件")
    WORK_INSTRUCTION = "work_instruction", _("作业文件")
    RECORD_FORM = "record_form", _("记录表格")


class Document(models.Model):
    """体系文件 — one controlled document; its content lives in its versions."""

    code = models.CharField(_("文件编号"), max_length=40)
    title = models.CharField(_("文件名称"), max_length=120)
    kind = models.CharField(_("文件类别"), max_length=20, choices=DocumentKind.choices)
    owner = models.ForeignKey(
        Unit, verbose_name=_("发布组织"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="documents", help_text=_("留空表示系统内置的标准文件库"),
    )
    library_key = models.CharField(_("文件库键"), max_length=60, blank=True, db_index=True)
    based_on = models.ForeignKey(
        "self", verbose_name=_("依据的标准文件"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="adoptions",
    )
    review_months = models.PositiveSmallIntegerField(_("定期评审周期(月)"), default=12)
    #: 作业文件 (the fourth layer, seed 004 篇8) sit under the procedure they detail
    parent = models.ForeignKey(
        "self", verbose_name=_("所属程序文件"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="instructions", limit_choices_to={"kind": DocumentKind.PROCEDURE},
        help_text=_("作业文件所细化的程序文件;只有作业文件填写"),
    )

    class Meta:
        verbose_name = _("体系文件")
        verbose_name_plural = _("体系文件")
        ordering = ["code"]
        constraints = [
            models.CheckConstraint(condition=Q(parent__isnull=True) | Q(kind="work_instruction"),
                                   name="document_parent_only_for_instructions"),
            models.UniqueConstraint(fields=["owner", "code"], name="document_code_per_owner"),
            models.UniqueConstraint(fields=["code"], condition=Q(owner__isnull=True), name="library_document_code"),
            models.UniqueConstraint(fields=["library_key"], condition=Q(owner__isnull=True) & ~Q(library_key=""), name="library_document_key"),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"

    def save(self, *args, **kwargs) -> None:
        if self.parent_id is not None:  # whoever writes it, a document sits only under what it may
            why = self.parent_problem()
            if why:
                from django.core.exceptions import ValidationError

                raise ValidationError({"parent": why})
        super().save(*args, **kwargs)

    def effective_version(self) -> DocumentVersion | None:
        return self.versions.filter(status=VersionStatus.EFFECTIVE).first()

    def parent_problem(self) -> str:
        """Why this document cannot sit under its ``parent`` ("" when it may): only a 作业文件
        has one, and it is a 程序文件 that applies where the instruction is issued."""
        if self.parent is None:
            return "作业文件必须归属于一个程序文件" if self.kind == DocumentKind.WORK_INSTRUCTION else ""
        if self.kind != DocumentKind.WORK_INSTRUCTION:
            return f"只有作业文件可以归属于程序文件,“{self.get_kind_display()}”不能"
        if self.parent.kind != DocumentKind.PROCEDURE:
            return f"作业文件只能归属于程序文件,“{self.parent.code} {self.parent.title}”是{self.parent.get_kind_display()}"
        owner, up = self.owner, self.parent.owner
        if up is not None and (owner is None or not owner.path.startswith(up.path)):
            return f"程序文件“{self.parent.code} {self.parent.title}”是{up.name}的文件,不适用于{owner.name if owner else '标准文件库'}"
        return ""

    @property
    def next_review_on(self) -> dt.date | None:
        """下次评审日期 — kept on the effective version (set when it takes effect from
        ``review_months``), so a new version restarts the review clock (ISO 9001 §7.5.2)."""
        v = self.effective_version()
        return v.next_review_on if v else None


def add_months(day: dt.date, months: int) -> dt.date:
    """The same day ``months`` later, clamped to the month's last day (29 Feb → 28 Feb)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("草稿")
    UNDER_REVIEW = "under_review", _("审核中")
    APPROVED = "approved", _("已批准")
    EFFECTIVE = "effective", _("现行有效")
    SUPERSEDED = "superseded", _("已被替代")
    OBSOLETE = "obsolete", _("已作废")


EDITABLE_STATES = (VersionStatus.DRAFT,)


# Guards: pure functions of the version, named for what they check.
def has_been_reviewed(version: DocumentVersion) -> bool:
    return version.reviewed_by_id is not None


def not_yet_reviewed(version: DocumentVersion) -> bool:
    return version.reviewed_by_id is None


def effective_date_reached(version: DocumentVersion) -> bool:
    return version.effective_on is not None and version.effective_on <= timezone.localdate()


def has_content(version: DocumentVersion) -> bool:
    return bool((version.what or "").strip() or (version.body or "").strip())


class DocumentVersion(ConcurrentTransitionMixin, FSMModelMixin, models.Model):
    """版本 — one controlled version of a document; moves draft → under review → approved →
    effective → superseded (or obsolete). Only drafts may be edited; exactly one version of a
    document is effective at a time (a partial unique constraint).

    Each signing act (审核, 批准) is kept on the version itself: who (the user and their
    name as it was at signing), when, and what the signature means (ISO 9001 §7.5.2 c,
    review and approval for suitability). The ledger keeps the full history.

    (``ConcurrentTransitionMixin`` already derives from ``FSMModelMixin`` in django-fsm-2;
    both are named so that ``refresh_from_db`` keeps working on the protected field even if
    the mixins are ever split again.)"""

    document = models.ForeignKey(Document, verbose_name=_("文件"), on_delete=models.PROTECT, related_name="versions")
    label = models.CharField(_("版本号"), max_length=20)
    status = FSMField(_("状态"), max_length=20, choices=VersionStatus.choices, default=VersionStatus.DRAFT, protected=True)
    change_reason = models.TextField(_("修订原因"), blank=True)
    effective_on = models.DateField(_("生效日期"), null=True, blank=True)
    next_review_on = models.DateField(_("下次评审日期"), null=True, blank=True)
    why = models.TextField(_("目的"), blank=True)
    what = models.TextField(_("内容"), blank=True)
    who = models.TextField(_("职责"), blank=True)
    when = models.TextField(_("时间"), blank=True)
    where = models.TextField(_("地点"), blank=True)
    how = models.TextField(_("方法"), blank=True)
    body = models.TextField(_("正文"), blank=True)
    library_version = models.CharField(_("文件库版本"), max_length=20, blank=True)
    library_digest = models.CharField(_("文件库内容摘要"), max_length=64, blank=True)
    drafted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("起草人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    drafted_at = models.DateTimeField(_("起草时间"), null=True, blank=True)
    reviewed_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("审核人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    reviewed_at = models.DateTimeField(_("审核时间"), null=True, blank=True)
    reviewer_name = models.CharField(_("审核人姓名"), max_length=150, blank=True)
    review_meaning = models.CharField(_("审核签署含义"), max_length=60, blank=True)
    approved_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("批准人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    approved_at = models.DateTimeField(_("批准时间"), null=True, blank=True)
    approver_name = models.CharField(_("批准人姓名"), max_length=150, blank=True)
    approval_meaning = models.CharField(_("签署含义"), max_length=60, blank=True)

    class Meta:
        verbose_name = _("文件版本")
        verbose_name_plural = _("文件版本")
        ordering = ["document_id", "id"]
        constraints = [
            models.UniqueConstraint(fields=["document"], condition=Q(status="effective"), name="one_effective_version"),
            models.UniqueConstraint(fields=["document", "label"], name="version_label_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.document.code} {self.label}({self.get_status_display()})"

    # ---- transitions: called only from procedures.services, inside transaction.atomic()
    @transition(field=status, source=VersionStatus.DRAFT, target=VersionStatus.UNDER_REVIEW, conditions=[has_content])
    def submit(self) -> None:
        """提交审核."""

    @transition(field=status, source=VersionStatus.UNDER_REVIEW, target=VersionStatus.UNDER_REVIEW, conditions=[not_yet_reviewed])
    def review(self) -> None:
        """审核通过 (stays under review until approved; reviewed once per submission)."""

    @transition(field=status, source=VersionStatus.UNDER_REVIEW, target=VersionStatus.DRAFT)
    def send_back(self) -> None:
        """退回修改."""

    @transition(field=status, source=VersionStatus.UNDER_REVIEW, target=VersionStatus.APPROVED, conditions=[has_been_reviewed])
    def approve(self) -> None:
        """批准."""

    @transition(field=status, source=VersionStatus.APPROVED, target=VersionStatus.EFFECTIVE, conditions=[effective_date_reached])
    def publish(self) -> None:
        """发布生效 (on its effective date)."""

    @transition(field=status, source=VersionStatus.EFFECTIVE, target=VersionStatus.SUPERSEDED)
    def supersede(self) -> None:
        """被新版本替代."""

    @transition(field=status, source=[VersionStatus.DRAFT, VersionStatus.UNDER_REVIEW, VersionStatus.APPROVED, VersionStatus.EFFECTIVE], target=VersionStatus.OBSOLETE)
    def withdraw(self) -> None:
        """作废."""


class FieldType(models.TextChoices):
    TEXT = "text", _("文本")
    RICH_TEXT = "rich_text", _("富文本")
    DATE = "date", _("日期")
    DATETIME = "datetime", _("日期时间")
    PLACE = "place", _("地点")
    ATTENDANCE = "attendance", _("出席/缺席/列席")
    VOTES = "votes", _("表决情况")
    RESOLUTIONS = "resolutions", _("决议分工落实")
    LECTURER = "lecturer", _("主讲人")
    TOPIC = "topic", _("主题")
    SCORE = "score", _("评分")
    ATTACHMENTS = "attachments", _("附件")
    DUES = "dues", _("党费交纳明细(按党费台账)")
    GRADES = "grades", _("逐人评议结果(自评、互评、民主测评、评定意见)")
    MEMBERS = "members", _("人员(从名册中选择)")
    PERIOD = "period", _("起止日期")


class RecordForm(models.Model):
    """记录表格 — the fields a record must have; ``required`` ones make it "要素齐全"."""

    code = models.CharField(_("表格编号"), max_length=40)
    version = models.CharField(_("表格版本"), max_length=20)
    title = models.CharField(_("表格名称"), max_length=120)
    owner = models.ForeignKey(Unit, verbose_name=_("发布组织"), null=True, blank=True, on_delete=models.PROTECT, related_name="record_forms")
    source = models.CharField(_("依据"), max_length=200, blank=True)
    library_digest = models.CharField(_("文件库内容摘要"), max_length=64, blank=True)

    class Meta:
        verbose_name = _("记录表格")
        verbose_name_plural = _("记录表格")
        ordering = ["code", "version"]
        constraints = [models.UniqueConstraint(fields=["owner", "code", "version"], name="form_code_version_per_owner")]

    def __str__(self) -> str:
        return f"{self.code} {self.title}"


class FormField(models.Model):
    """表格栏目 — one field of a record form."""

    form = models.ForeignKey(RecordForm, verbose_name=_("记录表格"), on_delete=models.CASCADE, related_name="fields")
    key = models.CharField(_("键"), max_length=40)
    label = models.CharField(_("栏目"), max_length=60)
    type = models.CharField(_("类型"), max_length=20, choices=FieldType.choices)
    required = models.BooleanField(_("必填"), default=True)
    order = models.PositiveSmallIntegerField(_("顺序"), default=0)
    help_text = models.CharField(_("填写说明"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("表格栏目")
        verbose_name_plural = _("表格栏目")
        ordering = ["form_id", "order"]
        constraints = [models.UniqueConstraint(fields=["form", "key"], name="form_field_key")]

    def __str__(self) -> str:
        return self.label


class PerPerson(models.TextChoices):
    """每人应履行 — an obligation owed by each holder of an office rather than by the unit: it is
    counted from the records that name the person (the 党课's 主讲人), not scheduled per unit."""

    NONE = "", _("按组织")
    COMMITTEE_MEMBERS = "committee_members", _("党委(党组)每位成员")
    SECRETARY = "secretary", _("书记本人")


class Period(models.TextChoices):
    MONTH = "month", _("月")
    QUARTER = "quarter", _("季度")
    HALF_YEAR = "half_year", _("半年")
    YEAR = "year", _("年")


#: Periods per year, used to turn "at least N per period" into yearly expectations.
PERIODS_PER_YEAR = {Period.MONTH: 12, Period.QUARTER: 4, Period.HALF_YEAR: 2, Period.YEAR: 1}


class EventKind(models.TextChoices):
    MEMBER_TRANSFER = "member_transfer", _("组织关系转接")
    JOB_CHANGE = "job_change", _("岗位变动")
    COMMENDATION = "commendation", _("受到表彰或奖励")
    DISCIPLINE = "discipline", _("受到处分或批评")
    HARDSHIP = "hardship", _("生活遇到困难")
    CONFLICT = "conflict", _("出现矛盾纠纷")
    BAD_REPORT = "bad_report", _("群众反映问题")
    RETIREMENT = "retirement", _("退休")
    SERIOUS_DISCIPLINE_CASE = "serious_discipline_case", _("党员严重违纪违法、重大工作失误或受到问责")
    MEMBER_AWAY = "member_away", _("党员外出")
    TERM_EXPIRY = "term_expiry", _("任期届满")
    NEW_SECRETARY = "new_secretary", _("新任书记无任前培训记录")
    SERIOUS_CASE_REPORT = "serious_case_report", _("党员严重违纪违法(向上级报告)")


#: The fields that together say how often an obligation falls due.
FREQUENCY_KEYS = ("count", "per", "every_months", "before", "preferred_period", "event")
PREFERRED_PERIODS = ("Q1", "Q2", "Q3", "Q4", "H1", "H2")


def frequency_problems(o: dict) -> list[tuple[str, str]]:
    """Check an obligation's frequency (a TOML table or a model's values); returns
    ``(key, reason)`` pairs, key ``""`` meaning the obligation as a whole.

    Exactly one way of saying how often: ``count`` + ``per``; ``every_months``; ``before``
    ("MM-DD", once a year before that day, e.g. 七一); ``preferred_period`` alone (once a
    year, due by the end of that quarter/half) or with ``per = "year"``; or ``event``.
    These are the combinations the scheduler knows how to lay out — anything else would be
    silently ignored there, so it is refused here.
    """
    has = {k for k in FREQUENCY_KEYS if o.get(k) is not None and o.get(k) != ""}
    if not has:
        return [("", "没有频次:需要 count+per、every_months、before、preferred_period 或 event 之一")]
    out: list[tuple[str, str]] = []
    periodic = has & {"count", "per"}
    for key, others in (("event", has - {"event"}),
                        ("every_months", periodic | (has & {"before", "preferred_period"})),
                        ("before", periodic | (has & {"preferred_period"}))):
        if key in has and others:
            out.append(("", f"频次字段互相冲突:{key} 不能与 {'、'.join(sorted(others))} 同时使用"))
            break
    if periodic:
        if o.get("per") in (None, ""):
            out.append(("per", "缺少频次单位 per(count 须与 per 同时填写)"))
        elif o.get("per") not in Period.values:
            out.append(("per", f"频次单位“{o.get('per')}”无效,应为 {'/'.join(Period.values)}"))
        count = o.get("count")
        if not isinstance(count, int) or isinstance(count, bool) or count < 1:
            out.append(("count", "次数应为正整数(count 与 per 须同时填写)"))
    if "every_months" in has:
        n = o["every_months"]
        if not isinstance(n, int) or isinstance(n, bool) or not 1 <= n <= 12:
            out.append(("every_months", "间隔月数应为1–12的整数"))
    if "before" in has:
        try:
            m, d = (int(x) for x in str(o["before"]).split("-"))
            dt.date(2024, m, d)  # a leap year: 02-29 is a valid day
        except ValueError:
            out.append(("before", f"日期“{o['before']}”无效,应为 MM-DD"))
    if "preferred_period" in has:
        if o["preferred_period"] not in PREFERRED_PERIODS:
            out.append(("preferred_period", "建议时段应为 Q1–Q4 或 H1/H2"))
        elif "per" in has and o.get("per") != Period.YEAR:
            out.append(("preferred_period", "建议时段只适用于每年的规定(per = \"year\")"))
    if "event" in has and o["event"] not in EventKind.values:
        out.append(("event", f"未知的触发事件“{o['event']}”"))
    return out


class Obligation(models.Model):
    """规定 — one rule a procedure version lays down: which record, how often (or on which
    event), for which units, owned and checked by whom, and where the rule comes from."""

    version = models.ForeignKey(DocumentVersion, verbose_name=_("文件版本"), on_delete=models.CASCADE, related_name="obligations")
    key = models.CharField(_("规定键"), max_length=60)
    title = models.CharField(_("规定"), max_length=120)
    form = models.ForeignKey(RecordForm, verbose_name=_("记录表格"), null=True, blank=True, on_delete=models.PROTECT, related_name="obligations")
    applies_to = models.JSONField(_("适用组织类别"), default=list)
    requires_committee = models.BooleanField(_("仅限设委员会的组织"), default=False)
    min_full_members = models.PositiveIntegerField(_("正式党员人数下限"), null=True, blank=True)
    count = models.PositiveSmallIntegerField(_("次数"), null=True, blank=True)
    per = models.CharField(_("每"), max_length=12, choices=Period.choices, blank=True)
    every_months = models.PositiveSmallIntegerField(_("每隔(月)"), null=True, blank=True)
    before = models.CharField(_("每年截止(月-日)"), max_length=5, blank=True)
    preferred_period = models.CharField(_("建议时段"), max_length=4, blank=True)
    event = models.CharField(_("触发事件"), max_length=30, choices=EventKind.choices, blank=True)
    grace_days = models.PositiveSmallIntegerField(_("宽限天数"), default=0)
    per_person = models.CharField(_("每人应履行"), max_length=20, choices=PerPerson.choices, blank=True, default="",
                                  help_text=_("按人计数:由记录中的主讲人履行,不按组织排期"))
    responsible = models.CharField(_("责任人"), max_length=20, choices=PositionTitle.choices)
    checker = models.CharField(_("检查人"), max_length=20, choices=PositionTitle.choices)
    checker_level = models.CharField(_("检查人所在层级"), max_length=10, choices=[("self", _("本级")), ("parent", _("上级"))], default="self")
    quorum = models.CharField(_("法定人数"), max_length=16, blank=True, choices=[
        ("", _("不适用")), ("full_members", _("应到会正式党员过半数")), ("committee", _("委员过半数"))])
    attendees = models.CharField(_("应到人员"), max_length=12, blank=True, choices=[
        ("", _("按记录登记")), ("roster", _("本组织全体党员")), ("committee", _("委员会委员"))],
        help_text=_("会议记录须逐人登记应到人员的出席、缺席或请假"))
    description = models.TextField(_("说明"), blank=True)
    why = models.TextField(_("目的"), blank=True)
    what = models.TextField(_("内容"), blank=True)
    who = models.TextField(_("职责"), blank=True)
    when = models.TextField(_("时间"), blank=True)
    where = models.TextField(_("地点"), blank=True)
    how = models.TextField(_("方法"), blank=True)
    source = models.CharField(_("依据"), max_length=200)

    class Meta:
        verbose_name = _("规定")
        verbose_name_plural = _("规定")
        ordering = ["version_id", "id"]
        constraints = [models.UniqueConstraint(fields=["version", "key"], name="obligation_key_per_version")]

    def __str__(self) -> str:
        return self.title

    def applies_to_display(self) -> str:
        labels = dict(UnitKind.choices)
        return "、".join(str(labels.get(k, k)) for k in self.applies_to)

    def frequency_text(self) -> str:
        """How often, in words (for the procedure page and the rule-set page)."""
        if self.event:
            return f"事件触发:{self.get_event_display()}"
        parts = [f"{self.get_per_person_display()}"] if self.per_person else []
        if self.every_months:
            parts.append(f"每{self.every_months}个月至少1次")
        elif self.count and self.per:
            parts.append(f"每{self.get_per_display()}至少{self.count}次")
        if self.before:
            m, d = self.before.split("-")
            parts.append(f"每年{int(m)}月{int(d)}日前")
        if self.preferred_period:
            parts.append(f"一般在{self.preferred_period.replace('Q', '第')}{'季度' if self.preferred_period.startswith('Q') else ''}")
        return ",".join(parts)

    def expected_per_year(self) -> int:
        """How many executions one unit owes in a calendar year (0 for event-triggered rules);
        for a per-person rule (``per_person``), how many each holder of the office owes.

        Periods are counted from 1 January, as the scheduler lays them out: every 2 months →
        6, every 5 months → 3 (Jan, Jun, Nov); ``count`` per month/quarter/half-year/year →
        ``count`` × 12/4/2/1; a ``before`` date or a ``preferred_period`` alone → 1."""
        if self.event:
            return 0
        if self.every_months:
            return math.ceil(12 / self.every_months)
        if self.count and self.per:
            return self.count * PERIODS_PER_YEAR[self.per]
        return 1 if self.before or self.preferred_period else 0
