"""Background jobs: eager in unit tests, and once through a real worker on Redis."""
from __future__ import annotations

import pytest

from qms.models import LedgerCheckpoint
from qms.tasks import verify_ledger_task
from tests import factories


@pytest.mark.django_db
def test_verify_task_stores_a_checkpoint(tree):
    out = verify_ledger_task.delay().get()
    cp = LedgerCheckpoint.objects.get()
    assert out["ok"] is True and cp.ok and cp.head_seq == out["head_seq"] > 0


@pytest.mark.celery_worker
def test_verify_task_runs_on_a_real_worker(celery_worker_process):
    factories.small_tree()
    result = verify_ledger_task.delay()
    out = result.get(timeout=90)
    assert out["ok"] is True and out["entries"] > 0
    assert LedgerCheckpoint.objects.filter(head_seq=out["head_seq"], ok=True).exists()


def test_every_daily_job_names_a_registered_task():
    """Celery beat's schedule (settings) names only tasks a worker knows — 发展党员 reminders included."""
    from django.conf import settings

    from qms.celery import app

    app.loader.import_default_modules()
    names = {entry["task"] for entry in settings.CELERY_BEAT_SCHEDULE.values()}
    assert "workflows.send_recruitment_reminders" in names
    assert names <= set(app.tasks), names - set(app.tasks)


def test_recruitment_reminders_task_runs(tree):
    from workflows.tasks import send_recruitment_reminders_task

    assert send_recruitment_reminders_task.delay().get() == {"sent": 0, "escalated": 0}
