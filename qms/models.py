"""The shared core's data: organisation tree (党组织), people (党员), positions (职务),
role grants (角色授权) and the integrity ledger (留痕台账).

Structure rules and default terms come from seed 001 三(二)1 and domain.md §2; their
numbers live in ``qms/rules/structure.toml`` (data with citations), never here.
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class ScopedQuerySet(models.QuerySet):
    """The queryset of a model whose rows belong to a 党组织: the model names, in
    ``scope_unit_lookup``, the lookup from itself to that unit, and ``qms.scoping.restrict``
    (the one place the rule lives) cuts any of its querysets to what a user may see.
    """


class AdminUnit(models.Model):
    """行政单位 — the administrative unit (company, department) a 党组织 is set up in."""

    code = models.CharField(_("编码"), max_length=32, unique=True)
    name = models.CharField(_("名称"), max_length=100)

    class Meta:
        verbose_name = _("行政单位")
        verbose_name_plural = _("行政单位")
        ordering = ["code"]

    def __str__(self) -> str:
        return self.name


class UnitKind(models.TextChoices):
    COMMITTEE = "committee", _("党委(基层委员会)")
    GENERAL_BRANCH = "general_branch", _("党总支")
    BRANCH = "branch", _("党支部")
    JOINT_BRANCH = "joint_branch", _("联合党支部")
    TEMP_BRANCH = "temp_branch", _("临时党支部")
    GROUP = "group", _("党小组")


BRANCH_KINDS = (UnitKind.BRANCH, UnitKind.JOINT_BRANCH, UnitKind.TEMP_BRANCH)


class Unit(models.Model):
    """党组织 — one node of the tree 党委 → 党总支 → 党支部 → 党小组.

    ``path`` is a materialised path of zero-padded primary keys ("00000001/00000007/") so a
    whole subtree is one indexed prefix query, whatever its depth.
    """

    scope_unit_lookup = ""
    #: derived from ``parent``; recomputed on a move, so not part of the ledgered state
    ledger_exclude = ("path", "depth")

    code = models.CharField(_("组织编码"), max_length=32, unique=True)
    name = models.CharField(_("组织名称"), max_length=100)
    kind = models.CharField(_("组织类别"), max_length=20, choices=UnitKind.choices)
    parent = models.ForeignKey(
        "self", verbose_name=_("上级组织"), null=True, blank=True,
        on_delete=models.PROTECT, related_name="children",
    )
    path = models.CharField(_("路径"), max_length=255, db_index=True, editable=False, default="")
    depth = models.PositiveSmallIntegerField(_("层级"), default=0, editable=False)
    admin_units = models.ManyToManyField(AdminUnit, verbose_name=_("所属行政单位"), blank=True, related_name="party_units")
    founded_on = models.DateField(_("成立日期"), null=True, blank=True)
    term_start = models.DateField(_("本届任期开始"), null=True, blank=True)
    term_years = models.PositiveSmallIntegerField(
        _("任期(年)"), null=True, blank=True,
        help_text=_("留空则按组织类别的默认任期(见本组织的组织规则)"),
    )
    is_active = models.BooleanField(_("有效"), default=True)
    # nullable (no default) so that adding them is a plain ADD COLUMN on SQLite, which keeps the
    # subtree-tally triggers on this table (workflows/migrations/0005) in place
    founding_ref = models.CharField(  # noqa: DJ001
        _("成立批复"), max_length=120, null=True, blank=True,
        help_text=_("批准成立的上级党组织及文号;经本系统组织设置请示成立的,为其批复"),
    )
    task = models.CharField(_("组建任务"), max_length=200, null=True, blank=True,  # noqa: DJ001
                            help_text=_("临时党支部:为执行的任务或项目"))
    ends_on = models.DateField(_("任务结束日期"), null=True, blank=True, help_text=_("临时党支部:任务结束、应予撤销的日期"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("党组织")
        verbose_name_plural = _("党组织")
        ordering = ["path"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_branch(self) -> bool:
        return self.kind in BRANCH_KINDS

    def subtree(self):
        return Unit.objects.filter(path__startswith=self.path)

    def ancestors(self):
        ids = [int(p) for p in self.path.strip("/").split("/") if p]
        return Unit.objects.filter(pk__in=ids).order_by("depth")


class MemberCategory(models.TextChoices):
    FULL = "full", _("正式党员")
    PROBATIONARY = "probationary", _("预备党员")
    CANDIDATE = "candidate", _("发展对象")
    ACTIVIST = "activist", _("入党积极分子")


#: 党员 = 正式党员 + 预备党员 — who is a party member, not a rule an organisation chooses
#: (《中国共产党章程》第七条:预备党员的义务同正式党员一样;预备党员的权利,除了没有表决权、选举权
#: 和被选举权以外,也同正式党员一样). Who owes 党费 and counts for arrears is cited data of its own
#: (workflows/dues.toml ``[owing]``); who has a vote at a 党员大会 is in workflows/quorum.toml.
PARTY_MEMBER_CATEGORIES = (MemberCategory.FULL, MemberCategory.PROBATIONARY)


class MemberStatus(models.TextChoices):
    ACTIVE = "active", _("在册")
    TRANSFERRED_OUT = "transferred_out", _("已转出")
    DECEASED = "deceased", _("已去世")
    REMOVED = "removed", _("已除名")
    DISQUALIFIED = "disqualified", _("已取消预备党员资格")


class Gender(models.TextChoices):
    MALE = "M", _("男")
    FEMALE = "F", _("女")


class Member(models.Model):
    """党员 (and 入党积极分子/发展对象): a person with a status history.

    The unit a person belongs to on any date is a ``Membership`` span; the current one is
    the span with no end.
    """

    scope_unit_lookup = "memberships__unit"
    scope_q = Q(memberships__end__isnull=True)

    name = models.CharField(_("姓名"), max_length=50)
    gender = models.CharField(_("性别"), max_length=1, choices=Gender.choices)
    id_number = models.CharField(_("身份证号"), max_length=18, unique=True)
    birth_date = models.DateField(_("出生日期"), null=True, blank=True)
    ethnicity = models.CharField(_("民族"), max_length=20, blank=True)
    education = models.CharField(_("学历"), max_length=20, blank=True)
    phone = models.CharField(_("手机号"), max_length=20, blank=True)
    category = models.CharField(_("人员类别"), max_length=20, choices=MemberCategory.choices)
    status = models.CharField(_("党籍状态"), max_length=20, choices=MemberStatus.choices, default=MemberStatus.ACTIVE)
    joined_on = models.DateField(_("入党日期"), null=True, blank=True, help_text=_("接收为预备党员的日期"))
    full_on = models.DateField(_("转正日期"), null=True, blank=True)
    retired_on = models.DateField(_("退休日期"), null=True, blank=True)
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("登录账号"), null=True, blank=True,
        on_delete=models.SET_NULL, related_name="member",
    )
    #: 工号 — the number the enterprise directory (LDAP/AD) keeps for the person; a directory sign-in is
    #: matched to the member by it (qms/directory.py). Empty for those not in a directory.
    employee_number = models.CharField(_("工号"), max_length=64, blank=True, default="")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("党员")
        verbose_name_plural = _("党员")
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["employee_number"], condition=~Q(employee_number=""),
                                               name="one_member_per_employee_number")]

    def __str__(self) -> str:
        return self.name

    def current_membership(self) -> Membership | None:
        return self.memberships.filter(end__isnull=True).select_related("unit", "group").first()


class Membership(models.Model):
    """组织关系 — a span during which a person belongs to one 党支部 (and optionally a 党小组).

    At most one open span per person (a partial unique constraint), so nobody is in two
    units at once.
    """

    scope_unit_lookup = "unit"

    member = models.ForeignKey(Member, verbose_name=_("党员"), on_delete=models.PROTECT, related_name="memberships")
    unit = models.ForeignKey(Unit, verbose_name=_("所在党组织"), on_delete=models.PROTECT, related_name="memberships")
    group = models.ForeignKey(
        Unit, verbose_name=_("党小组"), null=True, blank=True, on_delete=models.PROTECT,
        related_name="group_memberships",
    )
    start = models.DateField(_("起始日期"))
    end = models.DateField(_("结束日期"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("组织关系")
        verbose_name_plural = _("组织关系")
        ordering = ["member_id", "start"]
        constraints = [
            models.UniqueConstraint(fields=["member"], condition=Q(end__isnull=True), name="one_open_membership"),
            models.CheckConstraint(condition=Q(end__isnull=True) | Q(end__gte=models.F("start")), name="membership_end_after_start"),
        ]

    def __str__(self) -> str:
        return f"{self.member} @ {self.unit}"

    def covers(self, day: dt.date) -> bool:
        return self.start <= day and (self.end is None or self.end >= day)


class MemberEventKind(models.TextChoices):
    ENROLL = "enroll", _("建档")
    TRANSFER_IN = "transfer_in", _("转入")
    TRANSFER_OUT = "transfer_out", _("转出")
    MOVE = "move", _("内部调整")
    CATEGORY = "category", _("类别变更")
    RETIRE = "retire", _("退休")
    DEATH = "death", _("去世")
    REMOVAL = "removal", _("除名")
    PROBATION_CANCEL = "probation_cancel", _("取消预备党员资格")
    # recorded by a secretary on the member's page (qms/rules/events.toml, 六必谈 and 专题组织生活会)
    JOB_CHANGE = "job_change", _("工作岗位变动")
    COMMENDATION = "commendation", _("受到表彰或奖励")
    DISCIPLINE = "discipline", _("受到处分或批评")
    HARDSHIP = "hardship", _("生活遇到困难")
    CONFLICT = "conflict", _("出现矛盾纠纷")
    BAD_REPORT = "bad_report", _("群众有不良反映")
    AWAY = "away", _("外出")
    SERIOUS_VIOLATION = "serious_violation", _("严重违纪违法")
    MAJOR_ERROR = "major_error", _("出现重大工作失误")
    ACCOUNTABILITY = "accountability", _("受到上级党组织问责")
    PRE_TRAINING = "pre_training", _("参加任前培训")
    UNTRAINED_SECRETARY = "untrained_secretary", _("任书记时无任前培训记录")


class MemberEvent(models.Model):
    """党员状态变化 — one dated change in a person's party life, kept as history."""

    scope_unit_lookup = "member__memberships__unit"
    scope_q = Q(member__memberships__end__isnull=True)

    member = models.ForeignKey(Member, verbose_name=_("党员"), on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(_("变化类型"), max_length=20, choices=MemberEventKind.choices)  # the vocabulary: qms/rules/events.toml
    date = models.DateField(_("日期"))
    from_unit = models.ForeignKey(Unit, verbose_name=_("原组织"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    to_unit = models.ForeignKey(Unit, verbose_name=_("新组织"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    note = models.CharField(_("说明"), max_length=200, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("党员状态变化")
        verbose_name_plural = _("党员状态变化")
        ordering = ["member_id", "date", "id"]

    def __str__(self) -> str:
        return f"{self.member} {self.get_kind_display()} {self.date}"


class PositionTitle(models.TextChoices):
    SECRETARY = "secretary", _("书记")
    DEPUTY_SECRETARY = "deputy_secretary", _("副书记")
    ORGANIZATION = "organization", _("组织委员")
    PROPAGANDA = "propaganda", _("宣传委员")
    DISCIPLINE = "discipline", _("纪检委员")
    DISCIPLINE_SECRETARY = "discipline_secretary", _("纪委书记")
    YOUTH = "youth", _("青年委员")
    MEMBER = "committee_member", _("委员")
    DISCIPLINE_CONTACT = "discipline_contact", _("纪检工作负责人")
    GROUP_LEADER = "group_leader", _("党小组长")


#: Offices that make up a 支委会 / 党委会 (the 党小组长 and the 纪检工作负责人 named in a branch
#: without a committee are not committee seats).
COMMITTEE_TITLES = tuple(t for t in PositionTitle if t not in (PositionTitle.GROUP_LEADER, PositionTitle.DISCIPLINE_CONTACT))
#: Offices whose holders manage their unit's subtree in the system.
OFFICER_TITLES = COMMITTEE_TITLES


class Position(models.Model):
    """职务 — an office held in a unit for a time (书记, 组织委员, 党小组长 …)."""

    scope_unit_lookup = "unit"

    member = models.ForeignKey(Member, verbose_name=_("任职人"), on_delete=models.PROTECT, related_name="positions")
    unit = models.ForeignKey(Unit, verbose_name=_("所在组织"), on_delete=models.PROTECT, related_name="positions")
    title = models.CharField(_("职务"), max_length=20, choices=PositionTitle.choices)
    start = models.DateField(_("任职日期"))
    end = models.DateField(_("免职日期"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("职务")
        verbose_name_plural = _("职务")
        ordering = ["unit_id", "title", "start"]

    def __str__(self) -> str:
        return f"{self.unit} {self.get_title_display()} {self.member}"


class Role(models.TextChoices):
    ADMIN = "admin", _("体系管理员")
    INTERNAL_AUDITOR = "internal_auditor", _("内审员")
    EXTERNAL_AUDITOR = "external_auditor", _("外部审核员")


class RoleGrant(models.Model):
    """角色授权 — a role given to a login over a unit's subtree for a time.

    Secretaries and officers need no grant: their scope follows from their current
    ``Position``. Members see their own unit through their ``Membership``.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("账号"), on_delete=models.CASCADE, related_name="role_grants")
    role = models.CharField(_("角色"), max_length=30, choices=Role.choices)
    unit = models.ForeignKey(Unit, verbose_name=_("范围"), on_delete=models.PROTECT, related_name="+")
    valid_from = models.DateField(_("生效日期"), default=dt.date.today)
    valid_until = models.DateField(_("失效日期"), null=True, blank=True)

    class Meta:
        verbose_name = _("角色授权")
        verbose_name_plural = _("角色授权")

    def __str__(self) -> str:
        return f"{self.user} {self.get_role_display()} @ {self.unit}"


class PolicyOverride(models.Model):
    """组织规则覆盖 — an organisation's own value for a shipped default rule (e.g. its own
    threshold for when a 支部 needs a 支委会), inherited by the units below it."""

    unit = models.ForeignKey(Unit, verbose_name=_("组织"), on_delete=models.CASCADE, related_name="policy_overrides")
    key = models.CharField(_("规则键"), max_length=60)
    value = models.IntegerField(_("取值"))
    source = models.CharField(_("依据"), max_length=200, help_text=_("本组织的制度文件及条款"))

    class Meta:
        verbose_name = _("组织规则覆盖")
        verbose_name_plural = _("组织规则覆盖")
        constraints = [models.UniqueConstraint(fields=["unit", "key"], name="one_override_per_unit_key")]

    def __str__(self) -> str:
        return f"{self.unit} {self.key}={self.value}"


class RosterColumnMapping(models.Model):
    """花名册列对应 — an organisation's own header for a roster field, one its files use that the
    shipped synonyms (``rules/roster.toml``) do not know; set by hand on the import's preview and
    used for every later import by this organisation and the units below it."""

    unit = models.ForeignKey(Unit, verbose_name=_("组织"), on_delete=models.CASCADE, related_name="roster_mappings")
    header = models.CharField(_("文件中的列名"), max_length=100)
    header_key = models.CharField(_("列名(比较用)"), max_length=100)
    field = models.CharField(_("对应项目"), max_length=30)

    class Meta:
        verbose_name = _("花名册列对应")
        verbose_name_plural = _("花名册列对应")
        constraints = [models.UniqueConstraint(fields=["unit", "header_key"], name="one_roster_mapping_per_unit_header")]

    def __str__(self) -> str:
        return f"{self.unit} {self.header}→{self.field}"


class LedgerEntry(models.Model):
    """留痕 — one entry of the append-only, hash-chained integrity ledger.

    ``seq`` is gapless and assigned under a lock; ``ts`` comes from the database clock;
    ``hash = SHA-256(prev_hash || canonical(entry))``. On PostgreSQL a trigger refuses
    UPDATE, DELETE and TRUNCATE (reliability.md §2.3). Written only by ``qms.ledger``.
    """

    seq = models.BigIntegerField(_("序号"), primary_key=True)
    ts = models.DateTimeField(_("时间"))
    actor_id = models.BigIntegerField(_("操作人ID"), null=True, blank=True)
    actor_name = models.CharField(_("操作人"), max_length=150, blank=True)
    action = models.CharField(_("动作"), max_length=60)
    obj_type = models.CharField(_("对象类型"), max_length=60, db_index=True)
    obj_id = models.CharField(_("对象ID"), max_length=64)
    before = models.JSONField(_("变更前"), null=True, blank=True)
    after = models.JSONField(_("变更后"), null=True, blank=True)
    reason = models.TextField(_("原因"), blank=True)
    prev_hash = models.CharField(_("前一哈希"), max_length=64)
    hash = models.CharField(_("哈希"), max_length=64, unique=True)

    class Meta:
        verbose_name = _("留痕记录")
        verbose_name_plural = _("留痕记录")
        ordering = ["seq"]
        indexes = [models.Index(fields=["obj_type", "obj_id", "seq"], name="ledger_obj_idx")]

    def __str__(self) -> str:
        return f"#{self.seq} {self.action} {self.obj_type}:{self.obj_id}"

    def changes(self) -> list[tuple[str, object, object]]:
        """(field, old, new) for every field this entry changed; all fields on a creation."""
        before, after = self.before or {}, self.after or {}
        keys = sorted(set(before) | set(after))
        return [(k, before.get(k), after.get(k)) for k in keys if before.get(k) != after.get(k)]


class LedgerCheckpoint(models.Model):
    """校验点 — the result of one full ledger verification, with the head it saw.

    Written by the nightly task and by ``manage.py ledger_checkpoint`` (which also writes the head,
    signed, to a file outside the database: qms/checkpoint.py); the head (seq, hash)
    is what an external copy (minutes of a management review, a second system) should keep
    so that a self-consistent rewrite of the chain by a DBA is noticed (reliability.md T7).
    """

    created_at = models.DateTimeField(_("校验时间"), auto_now_add=True)
    ok = models.BooleanField(_("通过"))
    entries = models.BigIntegerField(_("记录数"))
    head_seq = models.BigIntegerField(_("链头序号"))
    head_hash = models.CharField(_("链头哈希"), max_length=64)
    first_bad_seq = models.BigIntegerField(_("第一个出错序号"), null=True, blank=True)
    problems = models.TextField(_("问题"), blank=True)

    class Meta:
        verbose_name = _("留痕校验点")
        verbose_name_plural = _("留痕校验点")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.created_at:%Y-%m-%d %H:%M} #{self.head_seq} {'通过' if self.ok else '失败'}"


class Notification(models.Model):
    """通知 — an in-app message to one user (and e-mail where configured).

    ``key`` makes sending idempotent: the daily reminder job can run any number of times and
    each person gets each reminder once.
    """

    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("接收人"), on_delete=models.CASCADE, related_name="notifications")
    key = models.CharField(_("去重键"), max_length=120)
    title = models.CharField(_("标题"), max_length=200)
    url = models.CharField(_("链接"), max_length=200, blank=True)
    # 逾期 only for what is past its due date (``overdue``): a new ticket or a reminder due today
    # asks for action (待办) and is not late
    level = models.CharField(_("级别"), max_length=10, default="info", choices=[
        ("info", _("提醒")), ("warning", _("待办")), ("overdue", _("逾期")), ("danger", _("上报"))])
    created_at = models.DateTimeField(_("时间"), auto_now_add=True)
    read_at = models.DateTimeField(_("已读时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("通知")
        verbose_name_plural = _("通知")
        ordering = ["-created_at", "-id"]
        constraints = [models.UniqueConstraint(fields=["user", "key"], name="one_notification_per_key")]

    def __str__(self) -> str:
        return self.title


class Account(models.Model):
    """账号 — what the product keeps about a login besides Django's user: whether its password
    was set by someone else (created or reset by a manager) and must be changed at the next
    login. Whether the login may sign in at all is Django's ``User.is_active`` (one place);
    both are ledgered together as the login's state (``qms.accounts.snapshot``), never the
    password."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("账号"), on_delete=models.CASCADE,
                                primary_key=True, related_name="account")
    must_change_password = models.BooleanField(_("下次登录须修改密码"), default=False)

    class Meta:
        verbose_name = _("账号")
        verbose_name_plural = _("账号")

    def __str__(self) -> str:
        return str(self.user)


class DecisionOutcome(models.TextChoices):
    APPROVED = "approved", _("同意")
    REJECTED = "rejected", _("不同意")


class HigherDecision(models.Model):
    """上级批复 — one decision of a higher organisation on a matter of a unit (延期换届, 换届请示,
    书记、副书记的批准 …; the kinds in ``qms/rules/decisions.toml``).

    The deciding body is a unit above in the tree (``decided_by_unit``) or, for the top unit's
    own higher committee, a body outside the system named in ``decided_by_name`` — recorded the
    same way. Every approval of the processes that need one references a row of this table."""

    scope_unit_lookup = "unit"

    unit = models.ForeignKey(Unit, verbose_name=_("涉及组织"), on_delete=models.PROTECT, related_name="higher_decisions")
    kind = models.CharField(_("事项类别"), max_length=40)  # the vocabulary: qms/rules/decisions.toml
    doc_number = models.CharField(_("文号"), max_length=60)
    date = models.DateField(_("批复日期"))
    decided_by_unit = models.ForeignKey(Unit, verbose_name=_("作出批复的上级组织"), null=True, blank=True,
                                        on_delete=models.PROTECT, related_name="+")
    decided_by_name = models.CharField(_("系统外的上级党组织"), max_length=100, blank=True)
    outcome = models.CharField(_("批复意见"), max_length=10, choices=DecisionOutcome.choices)
    text = models.TextField(_("批复内容"), blank=True)
    file = models.FileField(_("批复文件"), upload_to="decisions/%Y/%m/", blank=True)
    file_name = models.CharField(_("文件名"), max_length=120, blank=True)
    file_sha256 = models.CharField(_("文件SHA-256"), max_length=64, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("上级批复")
        verbose_name_plural = _("上级批复")
        ordering = ["-date", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(decided_by_unit__isnull=False) & Q(decided_by_name="")) | (Q(decided_by_unit__isnull=True) & ~Q(decided_by_name="")),
                name="decision_one_deciding_body"),
        ]

    def __str__(self) -> str:
        return f"{self.doc_number} {self.unit}"

    @property
    def decided_by(self) -> str:
        return self.decided_by_unit.name if self.decided_by_unit_id else self.decided_by_name

    @property
    def kind_label(self) -> str:
        from qms.decision_kinds import decision_kinds

        k = decision_kinds().get(self.kind)
        return k.label if k else "其他事项"

    @property
    def approved(self) -> bool:
        return self.outcome == DecisionOutcome.APPROVED


class WorkCalendarYear(models.Model):
    """工作日历(年度) — one year's 法定节假日 and 调休 as the State Council's notice fixes them,
    entered by the 体系管理员 (``qms.workdays.calendar_year_save``). It takes the place of the same
    year in ``qms/rules/workdays.toml`` (the years shipped with the product), so an office need
    not wait for a new release when the notice is published; a correction needs a reason."""

    year = models.PositiveSmallIntegerField(_("年度"), unique=True)
    source = models.CharField(_("依据的通知"), max_length=200)
    off = models.JSONField(_("放假日期"), default=list)
    on = models.JSONField(_("调休上班日期"), default=list)
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("录入人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    entered_at = models.DateTimeField(_("录入时间"), default=timezone.now)

    class Meta:
        verbose_name = _("工作日历")
        verbose_name_plural = _("工作日历")
        ordering = ["year"]

    def __str__(self) -> str:
        return f"{self.year}年工作日历"
# ------------------------------------------------------------------ 个人信息查看记录 (qms/pii_log.py)


class WriteOnceError(RuntimeError):
    """A row of a write-once table was to be changed or deleted."""


class WriteOnceQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise WriteOnceError("查看记录只允许追加,不能修改")

    def delete(self):
        raise WriteOnceError("查看记录只允许追加,不能删除")


class PersonalDataView(models.Model):
    """身份证号查看记录 — one showing of a member's full 身份证号 to someone: who saw it, whose, when,
    and where (the page or the export). 个人信息保护法 第五十一条、第五十五条: the processor keeps a record
    of access to sensitive personal information (a 身份证号 is one, 第二十八条). Written once, never
    changed or deleted (refused here and, for changes, by the database: migration
    0014_personal_data_views); read by the 体系管理员 only (qms/pii_log.py)."""

    class Where(models.TextChoices):
        MEMBER_PAGE = "member_page", _("党员信息页")
        MEMBER_AMEND = "member_amend", _("更正党员信息页")
        ROSTER_EXPORT = "roster_export", _("花名册导出")

    viewer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("查看人"), on_delete=models.PROTECT,
                               related_name="+")
    member = models.ForeignKey(Member, verbose_name=_("被查看的党员"), on_delete=models.PROTECT, related_name="+")
    at = models.DateTimeField(_("时间"), db_index=True)
    where = models.CharField(_("查看途径"), max_length=20, choices=Where.choices)
    path = models.CharField(_("页面地址"), max_length=200, blank=True)

    objects = WriteOnceQuerySet.as_manager()

    class Meta:
        verbose_name = _("身份证号查看记录")
        verbose_name_plural = _("身份证号查看记录")
        ordering = ["-at", "-id"]
        indexes = [models.Index(fields=["member", "at"]), models.Index(fields=["viewer", "at"])]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M} {self.get_where_display()}"

    def save(self, *args, **kwargs):
        if not self._state.adding:
            raise WriteOnceError("查看记录只允许追加,不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise WriteOnceError("查看记录只允许追加,不能删除")
class SignatureMeaning(models.TextChoices):
    """签署含义 — what an electronic signature attests."""

    REVIEW = "review", _("审核")
    APPROVE = "approve", _("批准")
    CHECK = "check", _("检查")
    VERIFY = "verify", _("验证")
    CONFIRM = "confirm", _("确认")


class ElectronicSignature(models.Model):
    """电子签名 — a person's signature on one object, given by re-entering their password at
    the moment of the act (``qms.signatures.sign``), in the act's own transaction.

    It keeps who signed (the user and their name as it was at signing), when (the database
    clock), what it means (审核/批准/检查/验证/确认), the object signed (content type + id) and
    ``digest``: the SHA-256 of that object's canonical content, bound to its identity.
    ``manage.py verify_signatures`` recomputes every digest, so a signed thing changed
    afterwards — even directly in the database — is named. The row itself is ledgered, so
    a signature moved to another object breaks both its digest and the ledger.

    A signature stops applying (``voided_at``, with the reason) when the product itself
    reopens what was signed: a version sent back for revision, a checked record corrected.
    """

    signer = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("签名人"), on_delete=models.PROTECT, related_name="+")
    signer_name = models.CharField(_("签名人姓名"), max_length=150)
    signed_at = models.DateTimeField(_("签名时间"))
    meaning = models.CharField(_("签署含义"), max_length=10, choices=SignatureMeaning.choices)
    content_type = models.ForeignKey("contenttypes.ContentType", verbose_name=_("签名对象类型"), on_delete=models.PROTECT, related_name="+")
    object_id = models.PositiveBigIntegerField(_("签名对象"))
    digest = models.CharField(_("内容摘要(SHA-256)"), max_length=64)
    voided_at = models.DateTimeField(_("失效时间"), null=True, blank=True)
    void_reason = models.CharField(_("失效原因"), max_length=200, blank=True)

    class Meta:
        verbose_name = _("电子签名")
        verbose_name_plural = _("电子签名")
        ordering = ["signed_at", "id"]
        indexes = [models.Index(fields=["content_type", "object_id"], name="signature_obj_idx")]

    def __str__(self) -> str:
        from django.utils import timezone

        return f"{self.signer_name} · {timezone.localtime(self.signed_at):%Y-%m-%d %H:%M} · {self.get_meaning_display()}"


# ----------------------------------------------------------------------------- 通知渠道 (qms/channels.py)


class NoticeChannels(models.Model):
    """接收通知的方式 — one person's choice of channels besides 站内 (always on: the in-app list is the
    record every other channel copies). 邮件 goes to the login's e-mail address."""

    user = models.OneToOneField(settings.AUTH_USER_MODEL, verbose_name=_("用户"), on_delete=models.CASCADE,
                                related_name="notice_channels")
    email = models.BooleanField(_("邮件"), default=False)

    class Meta:
        verbose_name = _("接收通知的方式")
        verbose_name_plural = _("接收通知的方式")

    def __str__(self) -> str:
        return "站内、邮件" if self.email else "站内"


class RobotKind(models.TextChoices):
    WECOM = "wecom", _("企业微信群机器人")
    DINGTALK = "dingtalk", _("钉钉群机器人")


class GroupRobot(models.Model):
    """群机器人 — an organisation's 企业微信/钉钉 group robot: it carries the unit-level notices of the kinds
    chosen (qms/rules/notices.toml, scope "unit") about its unit (and, if asked, the units below).

    ``webhook`` (the robot's address or its key/token) and ``secret`` (钉钉 加签) are shown only to the
    体系管理员 and kept out of the ledger; the ledger keeps ``fingerprint`` (the first characters of
    their SHA-256), so a changed address still shows as a change."""

    ledger_exclude = ("webhook", "secret")
    scope_unit_lookup = "unit"

    unit = models.ForeignKey("qms.Unit", verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="robots")
    name = models.CharField(_("名称"), max_length=100)
    kind = models.CharField(_("类型"), max_length=10, choices=RobotKind.choices)
    webhook = models.CharField(_("机器人地址或密钥"), max_length=500)
    secret = models.CharField(_("加签密钥"), max_length=200, blank=True)
    fingerprint = models.CharField(_("地址指纹"), max_length=16, blank=True)
    kinds = models.JSONField(_("推送的通知种类"), default=list, blank=True)
    include_below = models.BooleanField(_("含下级组织"), default=False)
    active = models.BooleanField(_("启用"), default=True)

    class Meta:
        verbose_name = _("群机器人")
        verbose_name_plural = _("群机器人")
        ordering = ["unit__path", "name", "id"]

    def __str__(self) -> str:
        return f"{self.unit.name} · {self.name}({self.get_kind_display()})"


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", _("待发送")
    RETRYING = "retrying", _("重试中")
    SENT = "sent", _("已送达")
    FAILED = "failed", _("发送失败")


class Delivery(models.Model):
    """送达记录 — one notice on one outside channel (邮件 to a person, or a group robot): each attempt
    counted, the last error kept, the time it was delivered. ``dedupe`` makes it idempotent: the same
    notice is sent to the same target once, however often the job runs."""

    dedupe = models.CharField(_("去重键"), max_length=200, unique=True)
    channel = models.CharField(_("渠道"), max_length=10, choices=[("email", _("邮件")), *RobotKind.choices])
    notice_key = models.CharField(_("通知"), max_length=120)
    notice_kind = models.CharField(_("通知种类"), max_length=40)
    title = models.CharField(_("内容"), max_length=200)
    url = models.CharField(_("链接"), max_length=200, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("接收人"), null=True, blank=True,
                             on_delete=models.CASCADE, related_name="+")
    robot = models.ForeignKey(GroupRobot, verbose_name=_("群机器人"), null=True, blank=True, on_delete=models.CASCADE,
                              related_name="deliveries")
    status = models.CharField(_("状态"), max_length=10, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING)
    attempts = models.PositiveSmallIntegerField(_("尝试次数"), default=0)
    last_error = models.CharField(_("最后一次错误"), max_length=500, blank=True)
    created_at = models.DateTimeField(_("产生时间"), auto_now_add=True)
    last_attempt_at = models.DateTimeField(_("最后尝试时间"), null=True, blank=True)
    sent_at = models.DateTimeField(_("送达时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("送达记录")
        verbose_name_plural = _("送达记录")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "created_at"], name="delivery_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} · {self.title}"
