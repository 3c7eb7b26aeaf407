"""联系组、协作组与联系点 — groups of units across the party tree (seed 002 二: 联系组 by business
and locality, with rules on content, form, number of activities and leadership; seed 003 一2:
党建工作协作组 for 沟通联系、督办落实、考核验收; 联席会议) and 联系点 (seed 002 四: units given a
theme and tasks, their experience summed up). Re-exported by ``workflows.models``."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qms.models import Member, ScopedQuerySet, Unit


class CoalitionKind(models.TextChoices):
    LIAISON = "liaison", _("联系组")
    COOPERATION = "cooperation", _("协作组")


class Coalition(models.Model):
    """联系组 / 协作组 — set up by a committee (``root``) over units below it, led by a 组长单位
    (and a 组长), with its rules: 指导思想, 主要内容, 活动方式, 活动次数 a year, 组织领导."""

    scope_unit_lookup = "root"

    root = models.ForeignKey(Unit, verbose_name=_("设立的党组织"), on_delete=models.PROTECT, related_name="coalitions")
    kind = models.CharField(_("类别"), max_length=12, choices=CoalitionKind.choices)
    name = models.CharField(_("名称"), max_length=60)
    basis = models.CharField(_("分组依据"), max_length=120, help_text=_("如:行政业务工作性质相近、地域相近"))
    units = models.ManyToManyField(Unit, verbose_name=_("成员单位"), related_name="+")
    lead_unit = models.ForeignKey(Unit, verbose_name=_("组长单位"), on_delete=models.PROTECT, related_name="+")
    leader = models.ForeignKey(Member, verbose_name=_("组长"), null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    guideline = models.CharField(_("指导思想"), max_length=300, blank=True)
    content = models.TextField(_("主要内容"))
    form = models.CharField(_("活动方式"), max_length=200)
    meetings_per_year = models.PositiveSmallIntegerField(_("每年活动次数"))
    meetings_source = models.CharField(_("活动次数依据"), max_length=300)
    leadership = models.CharField(_("组织领导"), max_length=300, blank=True)
    is_active = models.BooleanField(_("有效"), default=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("设立人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("联系组、协作组")
        verbose_name_plural = _("联系组、协作组")
        ordering = ["root_id", "kind", "name"]
        constraints = [models.UniqueConstraint(fields=["root", "name"], name="coalition_name_per_root")]

    def __str__(self) -> str:
        return self.name


class CoalitionMeeting(models.Model):
    """联席会议 / 联系组活动 — one activity of a group: day, topic, the units present, how many
    people attended, what was discussed and agreed."""

    scope_unit_lookup = "coalition__root"

    coalition = models.ForeignKey(Coalition, verbose_name=_("联系组、协作组"), on_delete=models.PROTECT, related_name="meetings")
    held_on = models.DateField(_("日期"))
    topic = models.CharField(_("主题"), max_length=200)
    place = models.CharField(_("地点"), max_length=100)
    units_present = models.ManyToManyField(Unit, verbose_name=_("到会单位"), related_name="+")
    attendance = models.PositiveIntegerField(_("参加人数"))
    minutes = models.TextField(_("研究事项和议定意见"))
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("记录人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")
    recorded_at = models.DateTimeField(_("登记时间"), default=timezone.now)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("联席会议")
        verbose_name_plural = _("联席会议")
        ordering = ["coalition_id", "held_on", "id"]

    def __str__(self) -> str:
        return f"{self.coalition} {self.held_on} {self.topic}"


class LiaisonPoint(models.Model):
    """联系点 — a unit the committee follows closely: a theme and tasks given, a due date, and the
    experience summed up (seed 002 四: 出题目、交任务、总结经验)."""

    scope_unit_lookup = "unit"

    root = models.ForeignKey(Unit, verbose_name=_("设立的党组织"), on_delete=models.PROTECT, related_name="+")
    unit = models.ForeignKey(Unit, verbose_name=_("联系点单位"), on_delete=models.PROTECT, related_name="liaison_points")
    leader = models.ForeignKey(Member, verbose_name=_("联系领导"), on_delete=models.PROTECT, related_name="+")
    theme = models.CharField(_("题目"), max_length=200)
    tasks = models.TextField(_("任务"))
    due_on = models.DateField(_("完成期限"))
    summary = models.TextField(_("经验总结"), blank=True)
    summarized_on = models.DateField(_("总结日期"), null=True, blank=True)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("联系点")
        verbose_name_plural = _("联系点")
        ordering = ["root_id", "due_on", "id"]

    def __str__(self) -> str:
        return f"{self.unit} {self.theme}"
