"""Crash-safe background jobs (reliability.md T15–T17), with real Celery workers on Redis and
PostgreSQL (skipped locally without them, failing in CI).

* A transaction that rolls back publishes no task to the broker (every enqueue waits for
  ``on_commit``), so none can run; one that commits publishes exactly one, and the worker builds
  its pack (its row was there).
* The whole worker (its main process, the child building an evidence pack and the child's
  layout processes) is killed with SIGKILL in the middle of a pack, and a new worker started:
  the pack is shown as failed with the reason, is retried, and is built exactly once — one PDF
  stored, one ``pack.finish`` ledger entry — although the same task is delivered again while
  it is built and after it is done (a message delivered twice does nothing).
"""
from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from celery.signals import after_task_publish
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from audits.evidence import services as packs
from audits.evidence.tasks import build_evidence_pack
from audits.models import EvidencePack, PackState
from qms import ledger
from qms import services as core
from qms.celery import app as celery_app
from qms.models import LedgerEntry, Role
from tests import factories

ROOT = Path(__file__).resolve().parent.parent
TODAY = timezone.localdate()


@pytest.fixture
def media(tmp_path, settings, monkeypatch):
    """Uploaded files of this test and of its workers in one folder of its own (set before the
    worker fixture starts its worker, which inherits the environment)."""
    folder = tmp_path / "media"
    folder.mkdir()
    monkeypatch.setenv("MEDIA_ROOT", str(folder))
    settings.MEDIA_ROOT = str(folder)
    return folder


def _tree_of(pid: int) -> list[int]:
    """``pid`` and all its descendants (from /proc), parents first."""
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def _start_worker(like: subprocess.Popen) -> subprocess.Popen:
    """A new worker on the same queue, database and broker as the fixture's (its arguments)."""
    return subprocess.Popen(like.args, env={**os.environ, **_worker_env()}, cwd=ROOT)


def _worker_env() -> dict[str, str]:
    from django.db import connection

    db = connection.settings_dict
    return {"DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}",
            "QMS_PACK_PROCESSES": "2", "QMS_PACK_PARALLEL_FROM_BYTES": "0"}


def _wait(pack: EvidencePack, until, seconds: float = 120, poll: float = 0.05) -> EvidencePack:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pack.refresh_from_db()
        if until(pack):
            return pack
        time.sleep(poll)
    raise AssertionError(f"等待超时:证据包状态 {pack.state},进度 {pack.percent},{pack.error}")


@pytest.mark.celery_worker
def test_rollback_never_enqueues_and_a_killed_worker_builds_the_pack_once(media, celery_worker_process, client):
    from procedures.library_loader import load_library

    load_library()
    tree = factories.small_tree()
    root = tree["b2"]  # the smallest scope: one branch, one day
    admin = factories.user("office")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))

    # T17: count what this process publishes to the broker (Celery's own signal)
    published: list[tuple] = []

    def count(sender=None, body=None, **_kw):
        published.append((sender, list(body[0])))  # (args, kwargs, embed): the args

    after_task_publish.connect(count, weak=False)
    try:
        with pytest.raises(RuntimeError), transaction.atomic():
            gone = packs.pack_request(actor=admin, root=root, start=TODAY, end=TODAY)
            raise RuntimeError("the request fails after the pack was saved")
        assert not EvidencePack.objects.filter(pk=gone.pk).exists()
        assert published == []  # rolled back: nothing was published, so nothing can ever run
        pack = packs.pack_request(actor=admin, root=root, start=TODAY, end=TODAY)  # commits: published once
        assert published == [("audits.build_evidence_pack", [pack.pk])]
    finally:
        after_task_publish.disconnect(count)

    # T15: the whole worker is killed in the middle of the pack
    # laying out its chapters (a pack of one branch and one day takes a few seconds)
    pack = _wait(pack, lambda p: p.state != PackState.QUEUED and (p.state != PackState.RUNNING or p.percent >= 10), poll=0.01)
    assert pack.state == PackState.RUNNING and 10 <= pack.percent < 100, pack.state
    victims = _tree_of(celery_worker_process.pid)
    assert pack.worker_pid in victims
    print(f"killed at {pack.percent}% ({pack.chapter})", file=sys.stderr)
    for pid in victims:
        os.kill(pid, signal.SIGKILL)
    celery_worker_process.wait(10)
    restarted = _start_worker(celery_worker_process)
    try:
        # the pack's page sees its process gone and says so at once (no waiting for the heartbeat timeout)
        client.force_login(admin)
        assert client.get(reverse("pack_progress", args=[pack.pk])).json()["state"] == "failed"
        pack.refresh_from_db()
        assert pack.error == "生成进程已中断(进程已不在运行),请重新生成"
        client.post(reverse("pack_action", args=[pack.pk, "retry"]))  # the restarted worker builds it
        pack = _wait(pack, lambda p: p.state != PackState.QUEUED)
        build_evidence_pack.delay(pack.pk)  # T16: the same task delivered again while it is built …
        pack = _wait(pack, lambda p: p.state in (PackState.DONE, PackState.FAILED), 180)
        assert pack.state == PackState.DONE, pack.error
        build_evidence_pack.delay(pack.pk).get(timeout=60)  # … and after it is done: nothing happens
        pack.refresh_from_db()
        assert pack.state == PackState.DONE
    finally:
        restarted.terminate()
        try:
            restarted.wait(20)
        except subprocess.TimeoutExpired:
            restarted.kill()

    stored = sorted(p.name for p in media.rglob(f"pack-{pack.pk}-*.pdf"))
    assert len(stored) == 1 and Path(pack.pdf.path).name == stored[0]  # one PDF, the one the pack names
    finished = LedgerEntry.objects.filter(obj_type=ledger.label_of(pack), obj_id=str(pack.pk), action="pack.finish")
    assert finished.count() == 1
    assert packs.verify_stored(pack) == []
    assert ledger.verify().ok


# ------------------------------------------------------------------ every task: acks_late, and a second delivery does nothing

def _our_tasks() -> dict:
    celery_app.loader.import_default_modules()
    return {name: t for name, t in celery_app.tasks.items() if name.split(".")[0] in ("qms", "procedures", "workflows", "audits")}


def test_every_task_is_acknowledged_late_and_requeued_when_its_worker_dies(settings):
    tasks = _our_tasks()
    assert len(tasks) >= 13  # every @shared_task of qms, procedures, workflows and audits
    assert [n for n, t in tasks.items() if not t.acks_late] == []
    assert settings.CELERY_TASK_ACKS_LATE and settings.CELERY_TASK_REJECT_ON_WORKER_LOST
    assert settings.CELERY_WORKER_PREFETCH_MULTIPLIER == 1


@pytest.mark.django_db
def test_every_daily_job_delivered_twice_changes_nothing_the_second_time(settings):
    """Each job of Celery beat, run (eagerly) and then delivered again at once: the second run
    writes no ledger entry and sends no notification (the first did its work: occurrences
    scheduled and marked missed, reminders sent …)."""
    from procedures.library_loader import load_library
    from qms.models import Notification

    load_library()
    tree = factories.small_tree()
    admin = factories.user("office")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=tree["committee"], valid_from=dt.date(2020, 1, 1))
    tasks = _our_tasks()
    for entry in settings.CELERY_BEAT_SCHEDULE.values():
        task = tasks[entry["task"]]
        task.delay().get()
        after_first = (ledger.head(), Notification.objects.count())
        task.delay().get()
        assert (ledger.head(), Notification.objects.count()) == after_first, entry["task"]
    assert LedgerEntry.objects.filter(action__startswith="occurrence.").exists()  # the jobs had work to do
    assert ledger.verify().ok


def test_every_enqueue_waits_for_the_commit():
    """Tasks are queued only by receivers of signals in the tasks modules (``@receiver(sig)`` →
    ``task.delay``), and every such signal is sent from ``transaction.on_commit``: a request or
    service whose transaction rolls back never queues anything (proved with a real worker above)."""
    import re

    enqueues, senders = [], {}
    for package in ("qms", "procedures", "workflows", "audits"):
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for m in re.finditer(r"\.(delay|apply_async|delay_on_commit|apply_async_on_commit)\(", text):
                enqueues.append((path, text, m.start()))
            for m in re.finditer(r"^.*\b(\w+)\.send(?:_robust)?\(sender=.*$", text, re.M):
                senders.setdefault(m.group(1), []).append((path.relative_to(ROOT), m.group(0).strip()))
    assert enqueues
    for path, text, at in enqueues:
        rel = path.relative_to(ROOT)
        assert path.name == "tasks.py", f"{rel}: 任务只能在 tasks 模块中由信号接收函数排队"
        receivers = re.findall(r"@receiver\((\w+)", text[:at])
        assert receivers, f"{rel}: 排队的函数须是某个信号的接收函数"
        signal_name = receivers[-1]
        sent = senders.get(signal_name)
        assert sent, f"{rel}: 信号 {signal_name} 没有发送处"
        for where, line in sent:
            assert "transaction.on_commit(" in line, f"{where}: {signal_name} 须在事务提交后发送:{line}"
