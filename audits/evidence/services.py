"""认证证据包 services — request a pack (scope checked), build it in the background with
progress, keep its files and hashes; external auditors' read-only links (named, one pack,
expiring, revocable, every access in the ledger).

The pack itself is made by ``audits.evidence.builder.build_pack``; this module is the
lifecycle around it (the one place ``EvidencePack.state`` changes).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import logging
import secrets
import shutil
import tempfile
import time
from pathlib import Path

from django.core.exceptions import ValidationError
from django.core.files import File
from django.db import transaction
from django.db.models import BooleanField, DateTimeField, DurationField, ExpressionWrapper, Q, Value
from django.db.models.functions import Coalesce, Now
from django.dispatch import Signal
from django.urls import reverse
from django.utils import timezone

from audits.evidence.models import EvidencePack, PackLink, PackState
from qms import jobs, ledger
from qms.checksums import sha256_stream
from qms.models import Unit
from qms.notify import notify
from qms.permissions import act
from qms.scoping import can_manage, is_admin

log = logging.getLogger(__name__)
MAX_DAYS = 3 * 366


def may_request(user, root: Unit) -> bool:
    return user is not None and (is_admin(user) or can_manage(user, root))


class PackAbandoned(RuntimeError):
    """The pack is no longer this process's to build: it was taken for dead (and failed) while the
    process was slow, or retried since. The build stops; its result would be nobody's."""


#: Seconds between two heartbeats when the progress shown does not change (a long chapter of many
#: parts); a changed figure is written at once.
HEARTBEAT_EVERY = 5.0


@act("pack.request", unit=lambda root, **_: root)
@transaction.atomic
def pack_request(*, actor, root: Unit, start: dt.date, end: dt.date, enqueue: bool = True) -> EvidencePack:
    """申请证据包 — only for a unit the requester manages (permission matrix); the build runs as
    a background task started when this transaction commits (never inside the request). A pack
    of the same unit and period still being built refuses the request — unless its process is
    gone (:func:`pack_reap_stale`), then it is failed first and the request goes ahead."""
    if actor is None:
        raise ValidationError("证据包须由具名人员申请")
    if start > end:
        raise ValidationError("期间开始不能晚于期间结束")
    if (end - start).days > MAX_DAYS:
        raise ValidationError("期间不能超过三年")
    pack_reap_stale(root=root, start=start, end=end)
    if EvidencePack.objects.filter(root=root, start=start, end=end, state__in=(PackState.QUEUED, PackState.RUNNING)).exists():
        raise ValidationError("相同组织和期间的证据包正在生成,请稍候")
    pack = EvidencePack.objects.create(root=root, start=start, end=end, requested_by=actor)
    ledger.record("pack.request", pack, actor=actor)
    if enqueue:
        _enqueue(pack.pk)
    return pack


#: Sent when a pack's request or retry has committed; ``audits.evidence.tasks`` answers it by
#: queueing the build (the services do not import the tasks that call them).
pack_queued = Signal()


def _enqueue(pk: int) -> None:
    transaction.on_commit(lambda: pack_queued.send(sender=EvidencePack, pack_id=pk))


@act("pack.retry", unit=lambda pack, **_: pack.root)
@transaction.atomic
def pack_retry(pack: EvidencePack, *, actor, enqueue: bool = True) -> EvidencePack:
    """重新生成 — a failed pack (a pack whose process is gone is failed first) is queued again by
    someone who may request it (permission matrix); the build starts when this transaction commits."""
    pack_reap_stale(pk=pack.pk)
    p = EvidencePack.objects.select_for_update().get(pk=pack.pk)
    if p.state != PackState.FAILED:
        raise ValidationError("只有失败的证据包可以重新生成")
    before = ledger.snapshot(p)
    p.requeue()
    p.percent, p.chapter = 0, ""
    p.save()
    ledger.record("pack.retry", p, actor=actor, before=before)
    if enqueue:
        _enqueue(p.pk)
    return p


def _gone_reason(process_gone: bool) -> str:
    if process_gone:
        return "生成进程已中断(进程已不在运行),请重新生成"
    return f"生成进程已中断(超过{jobs.stale_wording()}无进展),请重新生成"


def _silent_since() -> ExpressionWrapper:
    """True where the pack's last heartbeat (or, before the first, its request) is older than
    ``jobs.stale_after()`` — on the database's clock, which wrote the heartbeat: no host's clock
    skew counts."""
    cutoff = ExpressionWrapper(Now() - Value(jobs.stale_after(), output_field=DurationField()), output_field=DateTimeField())
    return ExpressionWrapper(Q(last_sign__lt=cutoff), output_field=BooleanField())


def _running():
    return (EvidencePack.objects.filter(state=PackState.RUNNING)
            .annotate(last_sign=Coalesce("heartbeat_at", "requested_at")).annotate(silent=_silent_since()))


def pack_reap_stale(*, pk: int | None = None, root: Unit | None = None, start: dt.date | None = None,
                    end: dt.date | None = None) -> list[EvidencePack]:
    """Fail every pack shown as being built whose process is gone — visibly dead on this machine,
    or silent for ``jobs.stale_after()`` — with the reason, so that it can be retried and a new
    request for its unit and period is accepted (qms/jobs.py). Runs when the pack pages are shown,
    when a pack is requested or retried, when a task for a running pack arrives again, and every
    minute in Celery beat. Each pack is decided again on its freshly locked row, and failed with
    its ledger entry in one transaction; the requester is notified."""
    qs = _running()
    if pk is not None:
        qs = qs.filter(pk=pk)
    if root is not None:
        qs = qs.filter(root=root, start=start, end=end)
    candidates = [p.pk for p in qs.only("pk", "worker_process", "heartbeat_at", "requested_at")
                  if p.silent or jobs.process_gone(p.worker_process)]
    reaped = []
    for candidate in candidates:
        with transaction.atomic():
            p = _running().select_for_update(of=("self",)).select_related("requested_by", "root").filter(pk=candidate).first()
            if p is None:
                continue  # finished, failed or retried meanwhile
            gone = jobs.process_gone(p.worker_process)
            if not (gone or p.silent):
                continue  # a heartbeat came meanwhile
            before = ledger.snapshot(p)
            p.error = _gone_reason(gone)
            p.fail()
            p.save()
            ledger.record("pack.fail", p, actor=None, before=before, reason=p.error)
            notify(p.requested_by, key=f"pack:{p.pk}:failed", level="danger", url=reverse("pack_detail", args=[p.pk]),
                   title="证据包生成中断,请重新生成")
            reaped.append(p)
    for p in reaped:
        log.warning("evidence pack %s: %s", p.pk, p.error)
    return reaped


def _mine(pk: int, worker: jobs.Worker):
    return EvidencePack.objects.filter(pk=pk, state=PackState.RUNNING, worker_host=worker.host, worker_pid=worker.pid,
                                       worker_process=worker.process)


def _progress(pk: int, worker: jobs.Worker):
    """The builder's progress callback: the figure shown and the heartbeat, in one UPDATE of
    this process's own running pack; a pack no longer ours stops the build (PackAbandoned)."""
    last = {"at": 0.0, "shown": None}

    def report(percent: int, chapter: str) -> None:
        shown = (max(0, min(100, int(percent))), (chapter or "")[:120])
        now = time.monotonic()
        if shown == last["shown"] and now - last["at"] < HEARTBEAT_EVERY:
            return
        if not _mine(pk, worker).update(percent=shown[0], chapter=shown[1], heartbeat_at=Now()):
            raise PackAbandoned(f"evidence pack {pk} is no longer built by this process")
        last.update(at=now, shown=shown)
    return report


def pack_begin(pk: int, *, worker: jobs.Worker | None = None) -> EvidencePack | None:
    """开始生成 — a queued pack becomes this process's (host, process id and identity recorded,
    first heartbeat); None when it is not queued (built, being built, or failed: a task
    delivered again does nothing)."""
    worker = worker or jobs.this_process()
    with transaction.atomic():
        pack = EvidencePack.objects.select_for_update().select_related("root", "requested_by").get(pk=pk)
        if pack.state != PackState.QUEUED:
            return None
        before = ledger.snapshot(pack)
        pack.begin()
        pack.percent, pack.chapter, pack.error = 0, "开始", ""
        pack.worker_host, pack.worker_pid, pack.worker_process = worker.host, worker.pid, worker.process
        pack.save()
        EvidencePack.objects.filter(pk=pk).update(heartbeat_at=Now())
        ledger.record("pack.begin", pack, actor=None, before=before, reason=f"由 {worker.host} 上的进程 {worker.pid} 生成")
    return pack


def pack_run(pk: int) -> EvidencePack:
    """Build a requested pack (called by the task). Progress and the heartbeat are written as it
    goes; the end state (done or failed, with the reason) and its ledger entry are one
    transaction, and only while the pack is still this process's. A failure is recorded and the
    requester notified — never silent. A task delivered again after its process was killed
    (``acks_late`` + ``reject_on_worker_lost``) finds the pack running with its process gone and
    fails it with that reason; the requester retries."""
    from audits.evidence.builder import build_pack

    pack_reap_stale(pk=pk)
    worker = jobs.this_process()
    pack = pack_begin(pk, worker=worker)
    if pack is None:
        return EvidencePack.objects.get(pk=pk)  # already built, being built, or failed
    work = Path(tempfile.mkdtemp(prefix=f"pack-{pk}-"))
    try:
        from qms.people import person

        who = person(pack.requested_by)
        result = build_pack(pack.root, pack.start, pack.end, out_dir=work, generated_by=who, progress=_progress(pk, worker))
        with transaction.atomic():
            p = EvidencePack.objects.select_for_update().get(pk=pk)
            if not _mine(pk, worker).exists():
                raise PackAbandoned(f"evidence pack {pk} is no longer built by this process")
            before = ledger.snapshot(p)
            stem = f"pack-{p.pk}-{p.root.code}-{p.start:%Y%m%d}-{p.end:%Y%m%d}"
            with Path(result.pdf_path).open("rb") as f:
                p.pdf.save(f"{stem}.pdf", File(f), save=False)
            with Path(result.zip_path).open("rb") as f:
                p.zip.save(f"{stem}.zip", File(f), save=False)
            p.pdf_sha256, p.zip_sha256 = result.pdf_sha256, result.zip_sha256
            p.pages = result.pages
            p.ledger_seq, p.ledger_hash = result.ledger_head
            p.missing = [str(m) for m in result.missing_attachments]
            n = result.layout.processes
            p.percent, p.chapter, p.finished_at = 100, "完成" if n == 1 else f"完成({n} 个进程排版)", timezone.now()
            p.finish()
            p.save()
            ledger.record("pack.finish", p, actor=None, before=before)
            if p.missing:
                notify(p.requested_by, key=f"pack:{p.pk}:missing", level="warning", url=reverse("pack_detail", args=[p.pk]),
                       title=f"证据包已生成,但有 {len(p.missing)} 个附件在存储中缺失(已在证据包中列明)")
            else:
                notify(p.requested_by, key=f"pack:{p.pk}:done", url=reverse("pack_detail", args=[p.pk]),
                       title=f"证据包已生成:{p.root.name} {p.start:%Y-%m-%d} 至 {p.end:%Y-%m-%d}")
        return p
    except PackAbandoned:
        log.warning("evidence pack %s was taken for dead while this process built it; its result is dropped", pk)
        return EvidencePack.objects.get(pk=pk)
    except Exception as exc:  # recorded on the pack and in the ledger, then re-raised for the worker's log
        log.exception("evidence pack %s failed", pk)
        with transaction.atomic():
            p = EvidencePack.objects.select_for_update().get(pk=pk)
            if not _mine(pk, worker).exists():
                return p  # failed meanwhile as stale (or retried): that outcome stands
            before = ledger.snapshot(p)
            p.error = f"{type(exc).__name__}: {exc}"[:2000]
            p.fail()
            p.save()
            ledger.record("pack.fail", p, actor=None, before=before, reason=p.error[:200])
            notify(p.requested_by, key=f"pack:{p.pk}:failed", level="danger", url=reverse("pack_detail", args=[p.pk]),
                   title="证据包生成失败,请查看原因后重试")
        return p
    finally:
        shutil.rmtree(work, ignore_errors=True)



def verify_stored(pack: EvidencePack) -> list[str]:
    """Re-check a stored pack's files against the hashes kept when it was built."""
    problems = []
    for field, expected in (("pdf", pack.pdf_sha256), ("zip", pack.zip_sha256)):
        f = getattr(pack, field)
        if not f:
            problems.append(f"{field.upper()} 文件不存在")
            continue
        if not f.storage.exists(f.name):  # a local folder or an S3-compatible bucket (settings.STORAGES)
            problems.append(f"{field.upper()} 文件在存储中缺失")
            continue
        with f.storage.open(f.name, "rb") as stored:
            actual = sha256_stream(stored)
        if actual != expected:
            problems.append(f"{field.upper()} 文件的 SHA-256 与生成时不符")
    return problems


# ------------------------------------------------------------------- external auditor links


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@act("pack_link.issue", unit=lambda pack, **_: pack.root)
@transaction.atomic
def link_issue(pack: EvidencePack, *, actor, auditor_name: str, organisation: str, expires_on: dt.date,
               include_records: bool = False) -> tuple[PackLink, str]:
    """签发只读链接 — by the 体系管理员, for a named auditor and a finished pack; returns the
    link and its token (shown once; only its digest is stored)."""
    if actor is None or not is_admin(actor):
        raise ValidationError("只有体系管理员可以签发外部审核链接")
    if pack.state != PackState.DONE:
        raise ValidationError("证据包尚未生成完成")
    missing = [k for k, v in (("审核员姓名", auditor_name), ("认证机构", organisation)) if not (v or "").strip()]
    if missing:
        raise ValidationError(f"请填写{'、'.join(missing)}")
    today = timezone.localdate()
    if expires_on < today:
        raise ValidationError("有效期不能早于今天")
    if expires_on > today + dt.timedelta(days=180):
        raise ValidationError("有效期最长 180 天")
    token = secrets.token_urlsafe(32)
    link = PackLink.objects.create(pack=pack, auditor_name=auditor_name.strip(), organisation=organisation.strip(),
                                   token_sha256=token_digest(token), include_records=include_records,
                                   expires_on=expires_on, issued_by=actor)
    ledger.record("pack_link.issue", link, actor=actor)
    return link, token


@act("pack_link.revoke", unit=lambda link, **_: link.pack.root)
@transaction.atomic
def link_revoke(link: PackLink, *, actor, reason: str) -> PackLink:
    if actor is None or not is_admin(actor):
        raise ValidationError("只有体系管理员可以撤销外部审核链接")
    if not (reason or "").strip():
        raise ValidationError("撤销须说明原因")
    lk = PackLink.objects.select_for_update().get(pk=link.pk)
    if lk.revoked_at:
        raise ValidationError("该链接已撤销")
    before = ledger.snapshot(lk)
    lk.revoked_at, lk.revoked_by = timezone.now(), actor
    lk.save()
    ledger.record("pack_link.revoke", lk, actor=actor, before=before, reason=reason.strip())
    return lk


@transaction.atomic
def link_access(token: str, *, what: str, client: str) -> tuple[PackLink | None, str]:
    """Open a link: returns (link, "") when usable, else (link or None, why not). Every access
    — allowed or refused — is written to the ledger."""
    lk = PackLink.objects.select_related("pack", "pack__root").filter(token_sha256=token_digest(token or "")).first()
    if lk is None:
        return None, "链接无效"
    if lk.revoked_at:
        why = "该链接已被撤销"
    elif timezone.localdate() > lk.expires_on:
        why = f"该链接已于 {lk.expires_on:%Y-%m-%d} 过期"
    else:
        why = ""
    # the link is not changed by a visit: before and after are the same snapshot, so a link
    # edited outside the product (an extended expiry) is refused here, not laundered
    state = ledger.snapshot(lk)
    ledger.record("pack_link.access" if not why else "pack_link.refused", lk, actor=None, before=state, after=state,
                  reason=f"{lk.auditor_name}({lk.organisation})访问 {what},来自 {client}" + (f";拒绝:{why}" if why else ""))
    return lk, why
