"""Background work of the evidence room: building a requested pack in the worker, and the
minute check for packs whose building process is gone (``qms/jobs.py``)."""
from celery import shared_task
from django.dispatch import receiver

from audits.evidence.services import pack_queued, pack_reap_stale, pack_run


@shared_task(acks_late=True, name="audits.build_evidence_pack")
def build_evidence_pack(pack_id: int) -> str:
    """认证证据包 — built in the worker; progress and the outcome are kept on the pack."""
    return pack_run(pack_id).state


@shared_task(acks_late=True, name="audits.reap_stale_packs")
def reap_stale_packs() -> int:
    """证据包 shown as being built whose process is gone are failed with the reason (qms/jobs.py)."""
    return len(pack_reap_stale())


@receiver(pack_queued, dispatch_uid="audits.evidence.build_on_queue")
def _build_when_queued(sender, pack_id: int, **_kwargs) -> None:
    build_evidence_pack.delay(pack_id)
