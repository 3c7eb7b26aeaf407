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
