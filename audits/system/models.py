"""体系策划与支持 — the records ISO 9001 asks for around the procedures: the organisation's
context and interested parties (§4.1/§4.2), its risks and opportunities (§6.1), training records
for competence (§7.2) and satisfaction surveys (§9.1.2)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from audits.capa.models import Nonconformity
from qms.models import Member, ScopedQuerySet, Unit


class IssueKind(models.TextChoices):
    INTERNAL = "internal", _("内部因素")
    EXTERNAL = "external", _("外部因素")


class ContextIssue(models.Model):
    """内外部环境因素 (ISO 9001 §4.1) — an issue relevant to the organisation's purpose, and how it is
    monitored."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("类别"), max_length=10, choices=IssueKind.choices)
    text = models.TextField(_("因素"))
    effect = models.TextField(_("对党建工作的影响"), blank=True)
    monitoring = models.TextField(_("监视方式"))
    reviewed_on = models.DateField(_("评审日期"))
    active = models.BooleanField(_("有效"), default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("内外部环境因素")
        verbose_name_plural = _("内外部环境因素")
        ordering = ["root_id", "kind", "id"]

    def __str__(self) -> str:
        return self.text[:40]


class InterestedParty(models.Model):
    """相关方 (ISO 9001 §4.2, 关注焦点) — who, their needs and expectations, how they are monitored."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    name = models.CharField(_("相关方"), max_length=60)
    needs = models.TextField(_("需求和期望"))
    monitoring = models.TextField(_("监视方式"))
    source = models.CharField(_("依据"), max_length=200)
    reviewed_on = models.DateField(_("评审日期"))
    active = models.BooleanField(_("有效"), default=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("相关方")
        verbose_name_plural = _("相关方")
        ordering = ["root_id", "id"]

    def __str__(self) -> str:
        return self.name


class RiskKind(models.TextChoices):
    RISK = "risk", _("风险")
    OPPORTUNITY = "opportunity", _("机遇")


class Risk(models.Model):
    """风险和机遇 (ISO 9001 §6.1) — one row of an organisation's register: the related process,
    likelihood × impact on the scales of the rules (level computed), the action, its owner and due
    date, the improvement ticket it may have raised, and the effectiveness of the action."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(_("类别"), max_length=12, choices=RiskKind.choices)
    title = models.TextField(_("风险或机遇"))
    process = models.CharField(_("相关过程或程序"), max_length=120)
    likelihood = models.PositiveSmallIntegerField(_("可能性"))
    impact = models.PositiveSmallIntegerField(_("影响程度"))
    action = models.TextField(_("应对措施"))
    owner = models.ForeignKey(Member, verbose_name=_("责任人"), on_delete=models.PROTECT, related_name="+")
    due_date = models.DateField(_("完成期限"))
    ticket = models.OneToOneField(Nonconformity, verbose_name=_("改进措施单"), null=True, blank=True,
                                  on_delete=models.PROTECT, related_name="risk")
    effective = models.BooleanField(_("措施有效"), null=True, blank=True)
    effectiveness_note = models.TextField(_("有效性评价"), blank=True)
    evaluated_on = models.DateField(_("评价日期"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("风险和机遇")
        verbose_name_plural = _("风险和机遇")
        ordering = ["root_id", "id"]

    def __str__(self) -> str:
        return self.title[:40]

    @property
    def score(self) -> int:
        return self.likelihood * self.impact

    @property
    def is_open(self) -> bool:
        return self.evaluated_on is None

    @property
    def overdue(self) -> bool:
        """Open past its due date (逾期)."""
        from django.utils import timezone

        return self.is_open and self.due_date < timezone.localdate()


class TrainingRecord(models.Model):
    """培训记录 (ISO 9001 §7.2) — a course a member took, with hours, date and an optional
    certificate file (stored under its SHA-256); ``requirement`` names the competence requirement
    it counts for (defaults.toml), empty for other training."""

    scope_unit_lookup = "unit"

    member = models.ForeignKey(Member, verbose_name=_("党员"), on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey(Unit, verbose_name=_("登记组织"), on_delete=models.PROTECT, related_name="+")
    requirement = models.CharField(_("能力要求"), max_length=30, blank=True)
    course = models.CharField(_("课程"), max_length=120)
    hours = models.DecimalField(_("学时"), max_digits=5, decimal_places=1)
    taken_on = models.DateField(_("培训日期"))
    certificate_name = models.CharField(_("证书文件名"), max_length=120, blank=True)
    certificate_sha256 = models.CharField(_("证书 SHA-256"), max_length=64, blank=True)
    certificate = models.FileField(_("证书"), upload_to="training/%Y/", blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, on_delete=models.PROTECT,
                                    related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("培训记录")
        verbose_name_plural = _("培训记录")
        ordering = ["-taken_on", "-id"]

    def __str__(self) -> str:
        return self.course

    @property
    def certificate_title(self) -> str:
        """The file's name without its extension, as the page shows it."""
        return self.certificate_name.rsplit(".", 1)[0]


class Population(models.TextChoices):
    MEMBERS = "members", _("党员")
    MASSES = "masses", _("职工群众")


class Survey(models.Model):
    """满意度调查 (ISO 9001 §9.1.2) — title, population, the period answers are taken in; the
    questions are rows of ``SurveyQuestion``, the answers rows of ``SurveyEntry``."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("党组织"), on_delete=models.PROTECT, related_name="+")
    title = models.CharField(_("名称"), max_length=120)
    population = models.CharField(_("调查对象"), max_length=10, choices=Population.choices)
    start = models.DateField(_("开始日期"))
    end = models.DateField(_("结束日期"))
    scale_max = models.PositiveSmallIntegerField(_("评分题最高分"))
    satisfied_min = models.PositiveSmallIntegerField(_("计为满意的最低分"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("满意度调查")
        verbose_name_plural = _("满意度调查")
        ordering = ["-start", "-id"]

    def __str__(self) -> str:
        return self.title


class QuestionKind(models.TextChoices):
    SCALE = "scale", _("评分题")
    CHOICE = "choice", _("选择题")


class SurveyQuestion(models.Model):
    """调查题目 — a scale question (1 … the survey's maximum) or a choice among options."""

    scope_unit_lookup = "survey__root"

    survey = models.ForeignKey(Survey, verbose_name=_("调查"), on_delete=models.PROTECT, related_name="questions")
    order = models.PositiveSmallIntegerField(_("序号"))
    text = models.CharField(_("题目"), max_length=200)
    kind = models.CharField(_("题型"), max_length=10, choices=QuestionKind.choices)
    choices = models.JSONField(_("选项"), default=list, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("调查题目")
        verbose_name_plural = _("调查题目")
        ordering = ["survey_id", "order"]

    def __str__(self) -> str:
        return self.text

    def options(self) -> list[str]:
        if self.kind == QuestionKind.SCALE:
            return [str(n) for n in range(1, self.survey.scale_max + 1)]
        return list(self.choices)


class SurveyEntry(models.Model):
    """一次录入 — either one anonymous answer sheet (``respondents`` = 1) or counts per option
    from paper forms (``respondents`` = the number of forms); ``counts`` is
    {question id: {option: count}}."""

    scope_unit_lookup = "survey__root"

    survey = models.ForeignKey(Survey, verbose_name=_("调查"), on_delete=models.PROTECT, related_name="entries")
    respondents = models.PositiveIntegerField(_("答卷数"))
    counts = models.JSONField(_("各选项人数"))
    entered_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("录入人"), null=True, on_delete=models.PROTECT,
                                   related_name="+")
    entered_on = models.DateField(_("录入日期"))

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("满意度答卷")
        verbose_name_plural = _("满意度答卷")
        ordering = ["survey_id", "id"]

    def __str__(self) -> str:
        return f"{self.survey} × {self.respondents}"
