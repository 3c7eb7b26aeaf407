"""Daily execution jobs (Celery beat): schedule what is owed, and mark gaps."""
from celery import shared_task

from workflows import scheduler, services


@shared_task(acks_late=True, name="workflows.schedule")
def schedule_task() -> dict:
    r = scheduler.schedule()
    return {"units": r.units, "created": r.created, "cancelled": r.cancelled}


@shared_task(acks_late=True, name="workflows.mark_missed")
def mark_missed_task() -> int:
    return services.mark_missed()


@shared_task(acks_late=True, name="workflows.send_reminders")
def send_reminders_task() -> dict:
    from workflows.reminders import send_reminders

    r = send_reminders()
    return {"sent": r.sent, "escalated": r.escalated, "terms": r.terms}


@shared_task(acks_late=True, name="workflows.send_recruitment_reminders")
def send_recruitment_reminders_task() -> dict:
    """发展党员: reminders before a step's deadline, overdue notices and their escalation."""
    from workflows.recruitment_reminders import send_recruitment_reminders

    r = send_recruitment_reminders()
    return {"sent": r.sent, "escalated": r.escalated}


@shared_task(acks_late=True, name="workflows.notify_arrears")
def notify_arrears_task() -> int:
    from qms.models import Unit
    from workflows.dues import notify_arrears

    return sum(notify_arrears(root) for root in Unit.objects.filter(parent__isnull=True))
