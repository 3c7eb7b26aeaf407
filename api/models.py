"""数据接口令牌 — the credential of a program that reads or writes through the REST API.

A token is shown once, when it is made; only its SHA-256 is kept (``digest``), so a copy of the
database gives nobody a working token. Two kinds:

- 个人令牌 (``personal``): made by a user for themself; it acts as that user, within their scope;
- 对接令牌 (``integration``): made by a 体系管理员 for another system (OA, 党建平台 …); it acts in
  the name of the 体系管理员 who made it (who answers for it), limited to the units chosen and
  to reading unless 可写 was ticked.

Either kind may be read-only. A token ends at its expiry date, or when revoked with a reason;
both the making and the revoking are ledgered (``api.tokens``). ``last_used_at`` is a usage
stamp, not part of the ledgered state (``ledger_exclude``).
"""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from qms.models import Unit


class TokenKind(models.TextChoices):
    PERSONAL = "personal", _("个人令牌")
    INTEGRATION = "integration", _("对接令牌")


class ApiToken(models.Model):
    """数据接口令牌 — see the module docstring."""

    #: a token belongs to the unit of the person who answers for it
    scope_unit_lookup = "owner__member__memberships__unit"
    ledger_exclude = ("last_used_at",)

    kind = models.CharField(_("类别"), max_length=12, choices=TokenKind.choices)
    name = models.CharField(_("名称"), max_length=60, help_text=_("例如:OA系统、本人脚本"))
    owner = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("责任人"), on_delete=models.PROTECT,
                              related_name="api_tokens")
    prefix = models.CharField(_("令牌前缀"), max_length=12, db_index=True)
    digest = models.CharField(_("令牌摘要(SHA-256)"), max_length=64, unique=True)
    units = models.ManyToManyField(Unit, verbose_name=_("限定的党组织"), blank=True, related_name="+")
    write = models.BooleanField(_("可写"), default=False)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("创建人"), on_delete=models.PROTECT,
                                   related_name="+")
    created_at = models.DateTimeField(_("创建时间"), default=timezone.now)
    expires_on = models.DateField(_("有效期至"))
    revoked_at = models.DateTimeField(_("吊销时间"), null=True, blank=True)
    revoked_by = models.ForeignKey(settings.AUTH_USER_MODEL, verbose_name=_("吊销人"), null=True, blank=True,
                                   on_delete=models.PROTECT, related_name="+")
    revoke_reason = models.CharField(_("吊销原因"), max_length=200, blank=True)
    last_used_at = models.DateTimeField(_("最近使用时间"), null=True, blank=True)

    class Meta:
        verbose_name = _("数据接口令牌")
        verbose_name_plural = _("数据接口令牌")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}:{self.name}"

    @property
    def state(self) -> str:
        """有效 / 已过期 / 已吊销 (the state diagram in api/README.md)."""
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_on < timezone.localdate():
            return "expired"
        return "active"

    @property
    def state_label(self) -> str:
        return {"revoked": "已吊销", "expired": "已过期", "active": "有效"}[self.state]
