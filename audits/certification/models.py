"""认证周期 — the certificate (认证证书) an outside body issued for the organisation's party-building
QMS, the external audits it brings as dated obligations (监督审核 each year, 再认证 before expiry:
ISO/IEC 17021-1 §9.1.3, the numbers in ``rules.toml``), and the link of an external finding (a
nonconformity of source 外部审核 in the corrective-action machine) to the audit it came from.

An external audit's status on a day: 未到期 (its window has not opened), 应接受审核 (within the
window, not done), 已逾期 (past its date, not done), 已完成 (done, with the report's reference).
"""
from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audits.capa.models import Nonconformity
from qms.models import ScopedQuerySet, Unit


class Certificate(models.Model):
    """认证证书."""

    scope_unit_lookup = "unit"

    unit = models.ForeignKey(Unit, verbose_name=_("获证组织"), on_delete=models.PROTECT, related_name="certificates")
    body = models.CharField(_("认证机构"), max_length=100)
    standard = models.CharField(_("认证标准"), max_length=100)
    scope = models.TextField(_("认证范围"))
    number = models.CharField(_("证书编号"), max_length=60, unique=True)
    issued_on = models.DateField(_("发证日期"))
    expires_on = models.DateField(_("有效期至"))
    registered_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, on_delete=models.PROTECT,
                                      related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("认证证书")
        verbose_name_plural = _("认证证书")
        ordering = ["-issued_on", "-id"]

    def __str__(self) -> str:
        return f"{self.number} {self.unit}"

    def valid_on(self, day: dt.date) -> bool:
        return self.issued_on <= day <= self.expires_on


class AuditKind(models.TextChoices):
    SURVEILLANCE = "surveillance", _("监督审核")
    RECERTIFICATION = "recertification", _("再认证审核")


class AuditStatus(models.TextChoices):
    UPCOMING = "upcoming", _("未到期")
    DUE = "due", _("应接受审核")
    OVERDUE = "overdue", _("已逾期")
    DONE = "done", _("已完成")


class CertificationAudit(models.Model):
    """外部审核(监督审核、再认证审核)— a dated obligation generated from the certificate."""

    scope_unit_lookup = "certificate__unit"

    certificate = models.ForeignKey(Certificate, verbose_name=_("认证证书"), on_delete=models.PROTECT, related_name="audits")
    kind = models.CharField(_("审核类别"), max_length=20, choices=AuditKind.choices)
    sequence = models.PositiveSmallIntegerField(_("第几次"))
    due_on = models.DateField(_("应完成日期"))
    window_opens = models.DateField(_("可开始日期"))
    done_on = models.DateField(_("完成日期"), null=True, blank=True)
    reference = models.CharField(_("审核报告编号"), max_length=60, blank=True)
    recorded_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("登记人"), null=True, blank=True,
                                    on_delete=models.PROTECT, related_name="+")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("外部审核")
        verbose_name_plural = _("外部审核")
        ordering = ["due_on", "id"]
        constraints = [models.UniqueConstraint(fields=["certificate", "kind", "sequence"], name="cert_audit_once")]

    def __str__(self) -> str:
        return self.title

    @property
    def title(self) -> str:
        if self.kind == AuditKind.SURVEILLANCE:
            return f"第{self.sequence}次监督审核"
        return "再认证审核"

    def status(self, today: dt.date | None = None) -> str:
        today = today or timezone.localdate()
        if self.done_on:
            return AuditStatus.DONE
        if today > self.due_on:
            return AuditStatus.OVERDUE
        if today >= self.window_opens:
            return AuditStatus.DUE
        return AuditStatus.UPCOMING

    def status_label(self, today: dt.date | None = None) -> str:
        return str(AuditStatus(self.status(today)).label)


class ExternalFinding(models.Model):
    """外部审核发现 — a nonconformity (source 外部审核) and the external audit it was found in."""

    scope_unit_lookup = "nonconformity__unit"

    nonconformity = models.OneToOneField(Nonconformity, verbose_name=_("不符合项"), on_delete=models.PROTECT,
                                         related_name="external_finding")
    audit = models.ForeignKey(CertificationAudit, verbose_name=_("外部审核"), on_delete=models.PROTECT, related_name="findings")

    objects = ScopedQuerySet.as_manager()

    class Meta:
        verbose_name = _("外部审核发现")
        verbose_name_plural = _("外部审核发现")

    def __str__(self) -> str:
        return f"{self.audit} {self.nonconformity.code}"
