"""Daily job of the certification cycle: the office is reminded of external audits coming due."""
from celery import shared_task

from audits.certification.services import notify_due_audits


@shared_task(acks_late=True, name="audits.notify_certification_audits")
def notify_certification_audits_task() -> int:
    return notify_due_audits()
