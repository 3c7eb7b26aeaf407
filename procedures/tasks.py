"""Daily document-control job: publish approved versions whose effective date has come."""
from celery import shared_task

from procedures import services


@shared_task(acks_late=True, name="procedures.publish_due")
def publish_due_task() -> int:
    return services.publish_due()
