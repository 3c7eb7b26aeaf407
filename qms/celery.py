"""Celery application. With no broker configured the tasks run eagerly (embedded default)."""
import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "qms.settings")

app = Celery("qms", task_cls="celery.contrib.django.task:DjangoTask")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


from celery.signals import task_postrun  # noqa: E402


@task_postrun.connect
def _flush_tamper_alerts(**_kwargs) -> None:
    """A task whose change was refused because a row had been edited outside the product
    has rolled back; the administrators' alert is written now, outside that transaction."""
    from qms import ledger

    ledger.flush_tamper_alerts()


def route_task(name, args, kwargs, options, task=None, **kw):
    """队列 — an evidence pack goes to the packs queue (``settings.QMS_QUEUE_PACKS``, read at
    each send, so a test's worker can consume its own), every other task to the default queue."""
    from django.conf import settings

    if name in settings.QMS_PACK_TASKS:
        return {"queue": settings.QMS_QUEUE_PACKS}
    return None
