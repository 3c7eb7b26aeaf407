"""Background jobs of the shared core (Celery). Thin: each calls a service."""
from __future__ import annotations

from celery import shared_task
from django.dispatch import receiver

from qms import ledger
from qms.signals import delivery_ready


@shared_task(acks_late=True, name="qms.verify_ledger")
def verify_ledger_task() -> dict:
    """Nightly: verify the whole ledger (keeping a checkpoint of what was seen) and every electronic
    signature; when either fails, every 体系管理员 is told that day (once)."""
    from django.utils import timezone

    from qms import signatures
    from qms.notify import admins, notify

    cp = ledger.checkpoint()
    checked, problems = signatures.verify()
    if not cp.ok or problems:
        what = "、".join(x for x in ("留痕台账" if not cp.ok else "", f"{len(problems)} 个电子签名" if problems else "") if x)
        day = timezone.localdate()
        for user in admins():
            notify(user, key=f"integrity:{day:%Y%m%d}", level="error", url="/ledger/",
                   title=f"夜间校验发现{what}与记录不符,请运行 verify_ledger 查看并处理")
    return {"ok": cp.ok and not problems, "entries": cp.entries, "head_seq": cp.head_seq, "head_hash": cp.head_hash,
            "first_bad_seq": cp.first_bad_seq, "signatures": checked, "signature_problems": len(problems)}


@shared_task(bind=True, acks_late=True, name="qms.deliver_notice", max_retries=None)
def deliver_notice_task(self, delivery_id: int) -> str:
    """通知送达: send one 邮件 or group-robot message (qms/channels.py). A failure is recorded on the
    delivery and tried again after 1, 2, 4 … × QMS_NOTIFY_BACKOFF_SECONDS, QMS_NOTIFY_RETRIES times; one
    already delivered is not sent again (a message redelivered after a lost worker finds it 已送达)."""
    from django.conf import settings

    from qms import channels
    from qms.models import DeliveryStatus

    retries = settings.QMS_NOTIFY_RETRIES
    if self.request.is_eager:  # no queue (the embedded default, unit tests): the tries follow one another now
        for n in range(retries + 1):
            d = channels.attempt(delivery_id, final=n >= retries)
            if d.status != DeliveryStatus.RETRYING:
                break
        return d.status
    d = channels.attempt(delivery_id, final=self.request.retries >= retries)
    if d.status == DeliveryStatus.RETRYING:
        raise self.retry(countdown=channels.backoff(self.request.retries))
    return d.status


@shared_task(acks_late=True, name="qms.resend_deliveries")
def resend_deliveries_task() -> int:
    """Every ten minutes: queue again deliveries still waiting (the queue was down when the change committed)."""
    from qms import channels

    return channels.resend_due()


@receiver(delivery_ready)
def _queue_delivery(sender, delivery_id: int, **kwargs) -> None:
    deliver_notice_task.delay(delivery_id)
