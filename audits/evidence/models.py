"""认证证据包 (有效必鉴证) — a pack's lifecycle (queued → running → done/failed) and the
external auditors' expiring, revocable links to it."""
from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django_fsm import ConcurrentTransitionMixin, FSMField, transition

from qms.models import ScopedQuerySet, Unit


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
