"""Daily improvement job: overdue corrective actions are reported to the unit above; the evidence
pack's build, and the minute check for packs whose building process is gone."""
from celery import shared_task

from audits.services import escalate_overdue


@shared_task(acks_late=True, name="audits.escalate_overdue")
def escalate_overdue_task() -> int:
    return escalate_overdue()


@shared_task(acks_late=True, name="audits.build_evidence_pack")
def build_evidence_pack(pack_id: int) -> str:
    """认证证据包 — built in the worker; progress and the outcome are kept on the pack."""
    from audits.packs import pack_run

    return pack_run(pack_id).state


@shared_task(acks_late=True, name="audits.reap_stale_packs")
def reap_stale_packs() -> int:
    """证据包 shown as being built whose process is gone are failed with the reason (qms/jobs.py)."""
    from audits.packs import pack_reap_stale

    return len(pack_reap_stale())
