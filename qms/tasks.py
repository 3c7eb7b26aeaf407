"""Background jobs of the shared core (Celery). Thin: each calls a service."""
from __future__ import annotations

from celery import shared_task

from qms import ledger


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


# 通知送达 (qms/channels.py): defined beside the code they run, registered here for the worker
from qms.channels import deliver_notice_task, resend_deliveries_task  # noqa: E402, F401
