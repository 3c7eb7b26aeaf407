"""Background jobs of the shared core (Celery). Thin: each calls a service."""
from __future__ import annotations

from celery import shared_task

from qms import ledger


@shared_task(acks_late=True, name="qms.verify_ledger")
def verify_ledger_task() -> dict:
    """Nightly: verify the whole ledger and keep a checkpoint of what was seen."""
    cp = ledger.checkpoint()
    return {"ok": cp.ok, "entries": cp.entries, "head_seq": cp.head_seq, "head_hash": cp.head_hash,
            "first_bad_seq": cp.first_bad_seq}
