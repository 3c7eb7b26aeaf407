"""Daily job of corrective action: overdue tickets are reported to the unit above."""
from celery import shared_task

from audits.capa.services import escalate_overdue


@shared_task(acks_late=True, name="audits.escalate_overdue")
def escalate_overdue_task() -> int:
    return escalate_overdue()
