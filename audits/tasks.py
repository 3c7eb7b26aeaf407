"""Daily improvement job: overdue corrective actions are reported to the unit above."""
from celery import shared_task

from audits.services import escalate_overdue


@shared_task(acks_late=True, name="audits.escalate_overdue")
def escalate_overdue_task() -> int:
    return escalate_overdue()
