"""Daily job of the inspection campaigns: remind units before the 自查 deadline, mark the late
ones 逾期未提交 and report them to the level above."""
from celery import shared_task

from audits.campaign.services import escalate_overdue


@shared_task(acks_late=True, name="audits.campaign_escalate")
def campaign_escalate_task() -> int:
    return escalate_overdue()
