"""The task ``bench/crash_loop.py`` kills (T15), imported by its worker (``--include``).

``bench.crash_effect(key)``: notes its start in Redis (the child's pid, one more attempt), works
for a while, then writes its effect — one entry in the product's ledger for ``key`` — unless
that entry is already there (the task is idempotent, as the product's are), works a little
longer, and notes its end. It has no ``acks_late`` of its own: it follows the worker's
configuration, the product's settings (``CELERY_TASK_ACKS_LATE``,
``CELERY_TASK_REJECT_ON_WORKER_LOST``) or, with ``BENCH_CELERY_MODE``, others.
"""
from __future__ import annotations

import os
import time

import redis
from celery import shared_task
from django.conf import settings
from django.db import transaction

from qms.celery import app

#: the configurations compared; "product" leaves the product's settings as they are
MODES = {
    "product": {},
    "defaults": {"task_acks_late": False, "task_reject_on_worker_lost": False, "worker_prefetch_multiplier": 4},
    "acks_late_only": {"task_acks_late": True, "task_reject_on_worker_lost": False},
}
app.conf.update(MODES[os.environ.get("BENCH_CELERY_MODE", "product")])

WORK_BEFORE = 0.5  # seconds before the effect
WORK_AFTER = 0.3  # seconds after it, before the task returns (and, with acks_late, is acknowledged)


def marks() -> redis.Redis:
    return redis.Redis.from_url(settings.CELERY_BROKER_URL)


@shared_task(name="bench.crash_effect")
def crash_effect(key: str) -> None:
    from qms import ledger
    from qms.models import LedgerEntry

    r = marks()
    r.hincrby("bench:attempts", key, 1)
    r.hset("bench:pid", key, os.getpid())
    time.sleep(WORK_BEFORE)
    with transaction.atomic():
        if not LedgerEntry.objects.filter(obj_type="bench.crash", obj_id=key).exists():
            ledger.record("bench.crash_effect", obj_type="bench.crash", obj_id=key, after={"key": key}, reason="T15")
            r.hset("bench:effect_at", key, time.time())
    time.sleep(WORK_AFTER)
    r.hset("bench:done", key, time.time())
