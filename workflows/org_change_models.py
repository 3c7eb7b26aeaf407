"""组织设置调整 — the request to set up, merge, split or dissolve 党组织 (seed 001 三(二)1), kept
in its own module and re-exported by ``workflows.models`` (Django finds it there)."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from qms.models import ScopedQuerySet, Unit


class OrgChangeKind(models.TextChoices):
    SETUP = "setup", _("成立党组织")
    MERGE = "merge", _("合并党组织")
    SPLIT = "split", _("拆分党组织")
    DISSOLVE = "dissolve", _("撤销党组织")


class OrgChangeState(models.TextChoices):
    REQUESTED = "requested", _("已请示,待上级批复")
    APPROVED = "approved", _("已批准,待实施")
    REFUSED = "refused", _("上级不同意")
    DONE = "done", _("已实施")


class OrgChange(ConcurrentTransitionMixin, models.Model):
    """组织设置请示 — one request, under the organisation ``parent``, to set up new units, merge
    or split branches, or dissolve units; approved (or not) by a 上级批复 of ``parent`` itself or
    an organisation above it; carried out on ``effective_on``: units created, members moved by
    dated memberships, the old units' offices ended and the units closed."""

    scope_unit_lookup = "parent"

    kind = models.CharField(_("事项"), max_length=10, choices=OrgChangeKind.choices)
    parent = models.ForeignKey(Unit, verbose_name=_("所在上级组织"), on_delete=models.PROTECT, related_name="org_changes")
    reason = models.TextField(_("请示理由"))
    sources = models.ManyToManyField(Unit, verbose_name=_("被合并、拆分或撤销的组织"), blank=True, related_name="+")
    new_units = models.JSONField(_("拟成立的组织"), default=list, blank=True)
    receiver = models.ForeignKey(Unit, verbose_name=_("接收党员的组织"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    allocation = models.JSONField(_("党员去向"), default=dict, blank=True)
    decision = models.ForeignKey("qms.HigherDecision", verbose_name=_("上级批复"), null=True, blank=True,
                                 on_delete=models.PROTECT, related_name="+")
    effective_on = models.DateField(_("实施日期"), null=True, blank=True)
    created_units = models.ManyToManyField(Unit, verbose_name=_("新成立的组织"), blank=True, related_name="+")
    state = FSMField(_("进度"), max_length=10, choices=OrgChangeState.choices, default=OrgChangeState.REQUESTED,
                     protected=True)
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("请示人"), null=True, blank=True,
                                     on_delete=models.PROTECT, related_name="+")
    requested_on = models.DateField(_("请示日期"), default=timezone.localdate)

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("组织设置请示")
        verbose_name_plural = _("组织设置请示")
        ordering = ["-requested_on", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}({self.parent.name},{self.requested_on:%Y-%m-%d})"

    @transition(field=state, source=OrgChangeState.REQUESTED, target=OrgChangeState.APPROVED)
    def approve(self) -> None:
        """上级党组织同意."""

    @transition(field=state, source=OrgChangeState.REQUESTED, target=OrgChangeState.REFUSED)
    def refuse(self) -> None:
        """上级党组织不同意."""

    @transition(field=state, source=OrgChangeState.APPROVED, target=OrgChangeState.DONE)
    def carry_out(self) -> None:
        """按批复实施."""
