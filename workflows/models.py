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
from qms.models import MemberEvent, PositionTitle, ScopedQuerySet, Unit


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
    # 历史记录: a meeting held before the system was used, entered from the office's own list
    # (workflows/history_import.py) — who imported it and when; empty for everything else
    imported_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("历史记录导入人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    imported_at = models.DateTimeField(_("历史记录导入时间"), null=True, blank=True)
    # 外部编号: the id another system (a 智慧党建 platform) gives the meeting it sent through the data
    # interface (api/views_imports.py): sending it again finds this one; NULL for everything else
    # (a nullable column is added to SQLite in place: a NOT NULL one rebuilds the table and loses its triggers)
    external_id = models.CharField(_("外部编号"), max_length=100, null=True, blank=True)  # noqa: DJ001

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("应开展事项")
        verbose_name_plural = _("应开展事项")
        ordering = ["period_start", "unit_id", "obligation_key", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["unit", "obligation_key", "period_start", "seq"], condition=Q(event__isnull=True), name="one_occurrence_per_slot"),
            models.UniqueConstraint(fields=["unit", "obligation_key", "event"], condition=Q(event__isnull=False), name="one_occurrence_per_event"),
            models.UniqueConstraint(fields=["external_id"], condition=Q(external_id__isnull=False), name="one_occurrence_per_external_id"),
        ]
        indexes = [models.Index(fields=["unit", "period_start"], name="occ_unit_period"),
                   # home panels (due this month, overdue, recent gaps) list the first few by due date
                   models.Index(fields=["due_date"], name="occ_due")]

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


class Bucket(models.TextChoices):
    """How an occurrence counts in the compliance matrix, as far as it is known without today's
    date: done on time, done late, missed, cancelled, or still open (an open one counts as
    missed once its due date has passed, as not yet due before)."""

    ON_TIME = "on_time", _("按时完成")
    LATE = "late", _("逾期完成")
    MISSED = "missed", _("未开展")
    CANCELLED = "cancelled", _("已取消")
    OPEN = "open", _("未完成")


#: ``OccurrenceTally.due_date`` of every bucket but ``open`` (their due date does not matter).
TALLY_UNDATED = "9999-12-31"


class TallyCounts(models.Model):
    """What the two tallies share: one count per obligation × year × bucket (× due date while
    open). No foreign-key constraints or extra indexes: the rows are derived (the occurrences
    already protect their units and obligations), and each unique index leads with the unit."""

    obligation = models.ForeignKey(Obligation, verbose_name=_("规定"), on_delete=models.DO_NOTHING, db_constraint=False,
                                   db_index=False, related_name="+")
    obligation_key = models.CharField(_("规定键"), max_length=60)
    year = models.PositiveSmallIntegerField(_("年度"))
    bucket = models.CharField(_("计数类别"), max_length=10, choices=Bucket.choices)
    due_date = models.DateField(_("截止日期"))
    n = models.IntegerField(_("数量"), default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.obligation_key} · {self.year} · {self.get_bucket_display()} · {self.n}"


class OccurrenceTally(TallyCounts):
    """执行计数 — how many occurrences of one unit × obligation × year are in each bucket.

    Kept by database triggers on the occurrence table (migration 0004), so every insert,
    transition, bulk insert or update changes it in the same transaction — nothing in Python
    has to remember to. The compliance rates and the committee heatmap read these few rows
    instead of every occurrence of the year (issue 7: a 5,000-branch tree has 464,000
    occurrences a year, 82,000 unit × obligation cells). Open occurrences keep their due date
    (it decides missed vs not yet due on the day of reading); the other buckets share one row
    dated ``TALLY_UNDATED``. Derived data: ``workflows.compliance.tally_drift`` recounts it
    from the occurrences, ``manage.py compliance --rebuild-tally`` rebuilds it."""

    unit = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                             related_name="+")

    class Meta:
        verbose_name = _("执行计数")
        verbose_name_plural = _("执行计数")
        constraints = [models.UniqueConstraint(fields=["unit", "obligation", "obligation_key", "year", "bucket", "due_date"],
                                               name="one_tally_per_bucket")]


class SubtreeTally(TallyCounts):
    """下级汇总计数 — the tally of everything below one unit (its descendants, not the unit
    itself), per obligation × year × bucket: the rows of a committee's heatmap, one per
    directly subordinate unit, read without touching its thousands of branches.

    Kept by triggers on the tally (each change of a unit's count is carried to every unit
    above it, whose ids the materialised path names) and on ``qms_unit.path`` (a moved unit
    takes its counts from the old line of superiors to the new one) — migration 0005."""

    ancestor = models.ForeignKey(Unit, verbose_name=_("上级党组织"), on_delete=models.DO_NOTHING, db_constraint=False, db_index=False,
                                 related_name="+")

    class Meta:
        verbose_name = _("下级汇总计数")
        verbose_name_plural = _("下级汇总计数")
        constraints = [models.UniqueConstraint(fields=["ancestor", "obligation", "obligation_key", "year", "bucket", "due_date"],
                                               name="one_subtree_tally_per_bucket")]


# ---------------------------------------------------------------------------------- records


class Record(models.Model):
    """记录 — what was filled in for an occurrence, on the obligation's record form.

    Editable while the occurrence is planned or held; frozen once checked (C). After that a
    change is an amendment with a reason (``services.record_amend``); every value it had is
    in the ledger. Whether it is frozen is derived from the occurrence's state, not stored.
    """

    scope_unit_lookup = "occurrence__unit"

    occurrence = models.OneToOneField(Occurrence, verbose_name=_("应开展事项"), on_delete=models.PROTECT, related_name="record")
    form = models.ForeignKey("procedures.RecordForm", verbose_name=_("记录表格"), on_delete=models.PROTECT, related_name="+")
    elements = models.JSONField(_("记录要素"), default=dict, blank=True)
    submitted_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("提交人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    submitted_at = models.DateTimeField(_("提交时间"), null=True, blank=True)
    checked_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("检查人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    checked_at = models.DateTimeField(_("检查时间"), null=True, blank=True)
    # an imported past meeting has its head counts from the office's list, not a line per member
    expected_count = models.PositiveIntegerField(_("应到人数"), null=True, blank=True)
    present_count = models.PositiveIntegerField(_("实到人数"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("记录")
        verbose_name_plural = _("记录")

    def __str__(self) -> str:
        return f"{self.occurrence} 记录"

    @property
    def frozen(self) -> bool:
        return self.occurrence.state in (State.CHECKED, State.CLOSED)


class Presence(models.TextChoices):
    PRESENT = "present", _("出席")
    ABSENT = "absent", _("缺席")
    ATTENDING = "attending", _("列席")


class Attendance(models.Model):
    """出席情况 — one person at one meeting, taken from the unit's roster on that date
    (列席 may be someone from elsewhere). Absentees on approved leave owe a 补课."""

    scope_unit_lookup = "record__occurrence__unit"

    record = models.ForeignKey(Record, verbose_name=_("记录"), on_delete=models.CASCADE, related_name="attendance")
    member = models.ForeignKey("qms.Member", verbose_name=_("党员"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    guest_name = models.CharField(_("列席人员"), max_length=60, blank=True)
    presence = models.CharField(_("出席情况"), max_length=10, choices=Presence.choices)
    reason = models.CharField(_("缺席原因"), max_length=100, blank=True)
    on_leave = models.BooleanField(_("经批准请假"), default=False)

    class Meta:
        verbose_name = _("出席情况")
        verbose_name_plural = _("出席情况")
        constraints = [models.UniqueConstraint(fields=["record", "member"], condition=Q(member__isnull=False), name="one_attendance_per_member")]

    def __str__(self) -> str:
        return f"{self.member or self.guest_name} {self.get_presence_display()}"


class FollowUpKind(models.TextChoices):
    RESOLUTION = "resolution", _("决议落实")
    MAKEUP = "makeup", _("补课")
    DISPOSAL = "disposal", _("组织处置")


class FollowUp(models.Model):
    """决议落实 / 补课 — a resolution's task or an absentee's make-up, with owner and due date."""

    scope_unit_lookup = "record__occurrence__unit"

    record = models.ForeignKey(Record, verbose_name=_("记录"), on_delete=models.PROTECT, related_name="followups")
    kind = models.CharField(_("类别"), max_length=12, choices=FollowUpKind.choices)
    text = models.CharField(_("事项"), max_length=200)
    owner = models.ForeignKey("qms.Member", verbose_name=_("责任人"), on_delete=models.PROTECT, related_name="followups")
    due_date = models.DateField(_("完成时限"))
    done_on = models.DateField(_("完成日期"), null=True, blank=True)
    outcome = models.CharField(_("落实情况"), max_length=200, blank=True)
    measure = models.CharField(_("处置方式"), max_length=20, blank=True,
                               help_text=_("组织处置:限期改正、劝其退党或除名(workflows/review.toml)"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("决议落实/补课")
        verbose_name_plural = _("决议落实/补课")
        ordering = ["due_date", "id"]

    def __str__(self) -> str:
        return self.text


class Decider(models.TextChoices):
    """Who gives the 评定意见 (seed 001 三(二)4)."""

    BRANCH_COMMITTEE = "branch_committee", _("支部委员会")
    GENERAL_MEETING = "general_meeting", _("党员大会")


class MemberReview(models.Model):
    """民主评议结果 — one member's result in one 民主评议党员 record (seed 001 三(二)4): 个人自评,
    党员互评, 民主测评 (how many voted each grade), and the 评定意见 given by the 支委会 or the
    党员大会 — one of the grades in ``workflows/review.toml``. A member graded 不合格 gets a
    组织处置 follow-up when the record is submitted."""

    scope_unit_lookup = "record__occurrence__unit"

    record = models.ForeignKey(Record, verbose_name=_("记录"), on_delete=models.PROTECT, related_name="reviews")
    member = models.ForeignKey("qms.Member", verbose_name=_("党员"), on_delete=models.PROTECT, related_name="reviews")
    self_review = models.CharField(_("个人自评"), max_length=500, blank=True)
    mutual_review = models.CharField(_("党员互评"), max_length=500, blank=True)
    poll = models.JSONField(_("民主测评(各等次票数)"), default=dict, blank=True)
    grade = models.CharField(_("评定意见"), max_length=20, blank=True)
    decided_by = models.CharField(_("评定机构"), max_length=20, choices=Decider.choices, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("民主评议结果")
        verbose_name_plural = _("民主评议结果")
        ordering = ["record_id", "member__name"]
        constraints = [models.UniqueConstraint(fields=["record", "member"], name="one_review_per_member")]

    def __str__(self) -> str:
        return f"{self.member} {self.grade}"


class Attachment(models.Model):
    """附件 — a sign-in sheet, photo or minutes, stored content-addressed with its SHA-256."""

    scope_unit_lookup = "record__occurrence__unit"

    record = models.ForeignKey(Record, verbose_name=_("记录"), on_delete=models.PROTECT, related_name="attachments")
    name = models.CharField(_("文件名"), max_length=120)
    content_type = models.CharField(_("类型"), max_length=255)  # an Office type is up to 73 characters (.pptx)
    size = models.PositiveIntegerField(_("大小"))
    sha256 = models.CharField(_("SHA-256"), max_length=64)
    file = models.FileField(_("文件"), upload_to="attachments/%Y/%m/")
    uploaded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("上传人"), null=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = _("附件")
        verbose_name_plural = _("附件")

    def __str__(self) -> str:
        return self.name


# ------------------------------------------------------------------------------------ 党费


class PayWay(models.TextChoices):
    CASH = "cash", _("现金")
    TRANSFER = "transfer", _("转账")
    ONLINE = "online", _("线上缴纳")


class DuesPayment(models.Model):
    """党费 — one member's dues for one month (paid in person, in full, monthly)."""

    scope_unit_lookup = "member__memberships__unit"
    scope_q = Q(member__memberships__end__isnull=True)

    member = models.ForeignKey("qms.Member", verbose_name=_("党员"), on_delete=models.PROTECT, related_name="dues")
    month = models.DateField(_("所属月份"), help_text=_("该月1日"))
    income = models.DecimalField(_("税后月收入"), max_digits=10, decimal_places=2, null=True, blank=True)
    amount = models.DecimalField(_("金额"), max_digits=8, decimal_places=2)
    paid_on = models.DateField(_("交纳日期"))
    way = models.CharField(_("交纳方式"), max_length=10, choices=PayWay.choices)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("党费交纳")
        verbose_name_plural = _("党费交纳")
        ordering = ["member_id", "month"]
        constraints = [models.UniqueConstraint(fields=["member", "month"], name="one_payment_per_member_month")]

    def __str__(self) -> str:
        return f"{self.member} {self.month:%Y-%m} {self.amount}"


class DuesNonPayment(models.Model):
    """党费未交(正当理由) — a month for which a member pays nothing for a recorded reason
    (经支部研究、报上级党委批准免交; 组织关系转接期间已在原支部交纳 …). It settles the month's
    collection like a payment and never counts towards the arrears rule, which concerns only
    non-payment 无正当理由 (seed 001 三(二)7; 中组发〔2008〕3号 on 少交、免交)."""

    scope_unit_lookup = "member__memberships__unit"
    scope_q = Q(member__memberships__end__isnull=True)

    member = models.ForeignKey("qms.Member", verbose_name=_("党员"), on_delete=models.PROTECT, related_name="dues_excused")
    month = models.DateField(_("所属月份"), help_text=_("该月1日"))
    reason = models.CharField(_("未交理由"), max_length=200)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("党费未交登记")
        verbose_name_plural = _("党费未交登记")
        ordering = ["member_id", "month"]
        constraints = [models.UniqueConstraint(fields=["member", "month"], name="one_nonpayment_per_member_month")]

    def __str__(self) -> str:
        return f"{self.member} {self.month:%Y-%m} 未交:{self.reason}"


class RemovalRequest(ConcurrentTransitionMixin, models.Model):
    """除名申请 — started by the branch for a member with 6 months' unpaid dues; decided by
    the higher organisation (seed 001 三(二)7: 经上级党组织批准)."""

    scope_unit_lookup = "unit"

    member = models.ForeignKey("qms.Member", verbose_name=_("党员"), on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey(Unit, verbose_name=_("所在党组织"), on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(_("理由"))
    state = FSMField(_("状态"), max_length=10, default="requested", protected=True,
                     choices=[("requested", _("待上级审批")), ("approved", _("已批准")), ("rejected", _("未批准"))])
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("申请人"), null=True, on_delete=models.PROTECT, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("审批人"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decision_note = models.CharField(_("审批意见"), max_length=200, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("除名申请")
        verbose_name_plural = _("除名申请")
        constraints = [models.UniqueConstraint(fields=["member"], condition=Q(state="requested"), name="one_open_removal_request")]

    def __str__(self) -> str:
        return f"{self.member} 除名申请"

    @transition(field=state, source="requested", target="approved")
    def approve(self) -> None:
        """上级批准."""

    @transition(field=state, source="requested", target="rejected")
    def reject(self) -> None:
        """上级不批准."""


# ------------------------------------------------------------------------------------ 换届选举


class ElectionState(models.TextChoices):
    NOMINATING = "nominating", _("酝酿")
    REQUESTED = "requested", _("已请示")
    ELECTED = "elected", _("已选举")
    COMPLETED = "completed", _("已报批")


class ElectionKind(models.TextChoices):
    """换届选举 (a new committee for a new term) or 补选 (only the vacant seats, seed 001 三(二)1、三(二)8)."""

    REGULAR = "regular", _("换届选举")
    BY = "by", _("补选")


#: the steps of seed 001 三(二)8 in order, with the state each step leaves the election in
ELECTION_STEPS = [(ElectionState.NOMINATING, "酝酿"), (ElectionState.REQUESTED, "请示"),
                  (ElectionState.ELECTED, "选举"), (ElectionState.COMPLETED, "报批")]


class Election(ConcurrentTransitionMixin, models.Model):
    """换届选举 / 补选 — one election of a unit's committee (seed 001 三(二)8: 酝酿 → 请示 → 选举 → 报批).

    The state is the FSM field; the viewflow process (``workflows.election_flows``) holds only the
    work items. Driven by ``workflows.election``; a 换届选举 fulfils the unit's 换届 occurrence and
    starts a new term, a 补选 (``kind``) fills only the seats vacant when it was opened (``seats``,
    ``vacant_titles``) and leaves the sitting committee and the term as they are."""

    scope_unit_lookup = "unit"

    unit = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="elections")
    occurrence = models.ForeignKey(Occurrence, verbose_name=_("换届事项"), null=True, blank=True, on_delete=models.PROTECT,
                                   related_name="elections")
    kind = models.CharField(_("选举类别"), max_length=8, choices=ElectionKind.choices, default=ElectionKind.REGULAR)
    state = FSMField(_("进度"), max_length=12, choices=ElectionState.choices, default=ElectionState.NOMINATING, protected=True)
    seats = models.PositiveSmallIntegerField(_("应选人数"), null=True, blank=True)
    vacant_titles = models.JSONField(_("补选时空缺的职务"), default=list, blank=True)
    request_decision = models.ForeignKey("qms.HigherDecision", verbose_name=_("换届请示的批复"), null=True, blank=True,
                                         on_delete=models.PROTECT, related_name="+")
    held_on = models.DateField(_("选举日期"), null=True, blank=True)
    entitled_count = models.PositiveIntegerField(_("应到会有选举权人数"), null=True, blank=True)
    present_ids = models.JSONField(_("实到会有选举权的党员"), default=list, blank=True)
    committee_present_ids = models.JSONField(_("选举书记、副书记时到会的委员"), default=list, blank=True)
    secretary_votes = models.PositiveIntegerField(_("书记得票"), null=True, blank=True)
    deputy_votes = models.PositiveIntegerField(_("副书记得票"), null=True, blank=True)
    approval_decision = models.ForeignKey("qms.HigherDecision", verbose_name=_("书记、副书记的批复"), null=True, blank=True,
                                          on_delete=models.PROTECT, related_name="+")
    filing_decision = models.ForeignKey("qms.HigherDecision", verbose_name=_("委员备案"), null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    term_start = models.DateField(_("新一届任期开始"), null=True, blank=True)
    offices_start = models.DateField(_("补选当选人任职日期"), null=True, blank=True)
    opened_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("发起人"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("换届选举")
        verbose_name_plural = _("换届选举")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["unit"], condition=~Q(state="completed"), name="one_open_election_per_unit")]

    def __str__(self) -> str:
        return f"{self.unit} {self.get_kind_display()}"

    @transition(field=state, source=ElectionState.NOMINATING, target=ElectionState.REQUESTED)
    def request(self) -> None:
        """请示: the candidates were put to the higher organisation and it agreed."""

    @transition(field=state, source=ElectionState.REQUESTED, target=ElectionState.ELECTED)
    def elect(self) -> None:
        """选举: the 党员大会 was held with a quorum and the ballots counted."""

    @transition(field=state, source=ElectionState.NOMINATING, target=ElectionState.ELECTED)
    def committee_only(self) -> None:
        """补选 with no 委员 seat vacant (only the 书记): no 党员大会; the 支委会 elects the 书记 among
        its 委员 at the 报批 step."""

    @transition(field=state, source=ElectionState.ELECTED, target=ElectionState.COMPLETED)
    def complete(self) -> None:
        """报批: 书记、副书记 approved, 委员 filed; the positions and the new term are set."""


class ElectionCandidate(models.Model):
    """候选人 — a 正式党员 put up in the 酝酿 step, with the votes the 党员大会 gave them."""

    scope_unit_lookup = "election__unit"

    election = models.ForeignKey(Election, verbose_name=_("换届选举"), on_delete=models.CASCADE, related_name="candidates")
    member = models.ForeignKey("qms.Member", verbose_name=_("候选人"), on_delete=models.PROTECT, related_name="+")
    votes = models.PositiveIntegerField(_("得票"), null=True, blank=True)
    elected = models.BooleanField(_("当选"), default=False)
    title = models.CharField(_("分工"), max_length=20, blank=True, choices=PositionTitle.choices)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("候选人")
        verbose_name_plural = _("候选人")
        ordering = ["election_id", "-votes", "id"]
        constraints = [models.UniqueConstraint(fields=["election", "member"], name="one_candidacy_per_election")]

    def __str__(self) -> str:
        return f"{self.election} {self.member}"


class RecruitStage(models.TextChoices):
    """发展党员的阶段 (workflows/recruitment.toml ``[stages]``), then the ends (``[ends]``): 转正, 取消预备党员资格, 不予接收."""

    APPLYING = "applying", _("申请入党")
    ACTIVIST = "activist", _("入党积极分子的确定和培养教育")
    CANDIDATE = "candidate", _("发展对象的确定和考察")
    RECEIVING = "receiving", _("预备党员的接收")
    PROBATION = "probation", _("预备党员的教育考察和转正")
    DONE = "done", _("已转为正式党员")
    CANCELLED = "cancelled", _("已取消预备党员资格")
    NOT_RECEIVED = "not_received", _("不予接收")


#: the stages an applicant's process ends in (no step is done after them)
RECRUIT_ENDS = (RecruitStage.DONE, RecruitStage.CANCELLED, RecruitStage.NOT_RECEIVED)


class Applicant(ConcurrentTransitionMixin, models.Model):
    """发展党员对象 — one person's way from 入党申请 to 正式党员 in one 党支部.

    The person is only an applicant (not on the roster) until the branch decides them an
    入党积极分子; then a ``Member`` is created (category 入党积极分子) and linked here, and each
    later stage change updates that Member's category through ``qms.services`` (ledgered).
    The stage lives in ``stage`` (FSM); each step done is a ``RecruitStep``."""

    scope_unit_lookup = "unit"

    unit = models.ForeignKey(Unit, verbose_name=_("党支部"), on_delete=models.PROTECT, related_name="applicants")
    name = models.CharField(_("姓名"), max_length=50)
    gender = models.CharField(_("性别"), max_length=1, choices=[("M", _("男")), ("F", _("女"))])
    id_number = models.CharField(_("身份证号"), max_length=18)
    birth_date = models.DateField(_("出生日期"))
    applied_on = models.DateField(_("递交入党申请书日期"))
    member = models.OneToOneField("qms.Member", verbose_name=_("党员档案"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="applicant")
    stage = FSMField(_("阶段"), max_length=12, choices=RecruitStage.choices, default=RecruitStage.APPLYING, protected=True)
    stage_since = models.DateField(_("进入本阶段日期"))
    probation_end = models.DateField(_("预备期满日期"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("发展党员对象")
        verbose_name_plural = _("发展党员对象")
        ordering = ["unit_id", "applied_on", "id"]
        constraints = [models.UniqueConstraint(fields=["id_number"], condition=~Q(stage__in=["done", "cancelled", "not_received"]),
                                               name="one_open_applicant_per_person")]

    def __str__(self) -> str:
        return f"{self.name}({self.get_stage_display()})"

    @transition(field=stage, source=RecruitStage.APPLYING, target=RecruitStage.ACTIVIST)
    def to_activist(self) -> None:
        """确定为入党积极分子."""

    @transition(field=stage, source=RecruitStage.ACTIVIST, target=RecruitStage.CANDIDATE)
    def to_candidate(self) -> None:
        """列为发展对象."""

    @transition(field=stage, source=RecruitStage.CANDIDATE, target=RecruitStage.RECEIVING)
    def to_receiving(self) -> None:
        """支部委员会审查,进入接收程序."""

    @transition(field=stage, source=RecruitStage.RECEIVING, target=RecruitStage.PROBATION)
    def to_probation(self) -> None:
        """编入党支部和党小组,进入预备期."""

    @transition(field=stage, source=RecruitStage.PROBATION, target=RecruitStage.DONE)
    def to_done(self) -> None:
        """转正材料归档."""

    @transition(field=stage, source=RecruitStage.PROBATION, target=RecruitStage.CANCELLED)
    def to_cancelled(self) -> None:
        """支部大会决议取消预备党员资格,经上级党委批准(《中国共产党章程》第七条)."""

    @transition(field=stage, source=RecruitStage.RECEIVING, target=RecruitStage.NOT_RECEIVED)
    def to_not_received(self) -> None:
        """支部大会未通过接收,或上级党委不同意接收:不予接收."""


class RecruitStep(models.Model):
    """发展党员步骤记录 — one step of workflows/recruitment.toml done for one applicant: who
    recorded it, the day it was done, what its record holds, and (for the higher
    organisation's steps) the unit that decided and its 批复文号; an approval is recorded as a
    上级批复 (``qms.HigherDecision``, the one record of every higher decision) and linked here."""

    scope_unit_lookup = "applicant__unit"

    applicant = models.ForeignKey(Applicant, verbose_name=_("发展党员对象"), on_delete=models.PROTECT, related_name="steps")
    step = models.CharField(_("步骤"), max_length=30)
    done_on = models.DateField(_("办理日期"))
    note = models.CharField(_("情况说明"), max_length=500, blank=True)
    data = models.JSONField(_("记录内容"), default=dict, blank=True)
    decided_by_unit = models.ForeignKey(Unit, verbose_name=_("审批组织"), null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    document_no = models.CharField(_("批复文号"), max_length=60, blank=True)
    decision = models.ForeignKey("qms.HigherDecision", verbose_name=_("上级批复"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    deadline = models.DateField(_("期限"), null=True, blank=True)
    days_overdue = models.PositiveIntegerField(_("逾期天数"), default=0)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("登记时间"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("发展党员步骤记录")
        verbose_name_plural = _("发展党员步骤记录")
        ordering = ["applicant_id", "done_on", "id"]

    def __str__(self) -> str:
        return f"{self.applicant.name} {self.step} {self.done_on}"


# the viewflow process of an applicant's work items (a proxy model: registered with the app)
# 组织设置请示 (its own module; re-exported so Django registers it with the app)
# 联系组、协作组与联系点 (its own module; re-exported so Django registers them with the app)
from workflows.coalition_models import (  # noqa: E402,F401
    Coalition,
    CoalitionKind,
    CoalitionMeeting,
    LiaisonPoint,
)
from workflows.org_change_models import OrgChange, OrgChangeKind, OrgChangeState  # noqa: E402,F401
from workflows.recruitment_flow import RecruitmentProcess  # noqa: E402,F401
