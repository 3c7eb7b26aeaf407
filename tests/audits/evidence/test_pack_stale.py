"""An evidence pack whose building process is gone (killed, or silent past the heartbeat timeout)
is failed with the reason, in the ledger, and can be retried or asked for again (qms/jobs.py,
audits/evidence/services.py ``pack_reap_stale``). The kill test really kills the process building the pack:
the web process building it eagerly (no broker), on a database file of its own; on PostgreSQL
with Redis, a real Celery worker's child too."""
from __future__ import annotations

import datetime as dt
import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from audits.evidence import services as packs
from audits.evidence.verify import verify_pack
from audits.models import EvidencePack, PackState
from qms import jobs, ledger
from qms import services as core
from qms.models import LedgerEntry, Role
from tests import factories
from tests.audits.evidence.test_evidence_pack import _tools, held  # noqa: F401  (fixture)
from tests.test_workflows_records import org  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db
TODAY = timezone.localdate()
ROOT = Path(__file__).resolve().parents[3]


def _admin(unit):
    admin = factories.user("office")
    core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=unit, valid_from=dt.date(2020, 1, 1))
    return admin


def test_this_process_is_alive_and_a_dead_one_is_gone():
    me = jobs.this_process()
    if not me.process:
        pytest.skip("需要 /proc(Linux)")
    assert me.pid == os.getpid() and not jobs.process_gone(me.process)
    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    space = me.process.rsplit("/", 2)[0]
    started = jobs._started(child.pid)
    assert started and not jobs.process_gone(f"{space}/{child.pid}/{started}")
    assert jobs.process_gone(f"{space}/{child.pid}/{int(started) + 1}")  # the id now names another process
    child.kill()
    child.wait()
    assert jobs.process_gone(f"{space}/{child.pid}/{started}")
    assert not jobs.process_gone(f"another-boot/1/{child.pid}/{started}")  # another machine: cannot tell, never guessed


def test_a_pack_without_heartbeat_is_failed_and_can_be_retried(held, client, settings, django_capture_on_commit_callbacks):  # noqa: F811
    _tools()
    settings.QMS_JOB_STALE_SECONDS = 60
    admin = _admin(held["c"])
    start = dt.date(TODAY.year - 1, 1, 1)
    pack = packs.pack_request(actor=admin, root=held["c"], start=start, end=TODAY, enqueue=False)
    elsewhere = jobs.Worker(host="worker-2", pid=4242, process="")  # a worker on another machine: only its heartbeat tells
    packs.pack_begin(pack.pk, worker=elsewhere)
    beat = packs._progress(pack.pk, elsewhere)
    beat(40, "8.1 三会一课")
    assert packs.pack_reap_stale() == []
    with pytest.raises(ValidationError, match="正在生成"):
        packs.pack_request(actor=admin, root=held["c"], start=start, end=TODAY, enqueue=False)
    client.force_login(admin)
    assert client.get(reverse("pack_progress", args=[pack.pk])).json()["state"] == "running"

    # the worker's last heartbeat was two minutes ago (a fixture shortcut: time passes)
    EvidencePack.objects.filter(pk=pack.pk).update(heartbeat_at=timezone.now() - dt.timedelta(minutes=2))
    page = client.get(reverse("pack_detail", args=[pack.pk])).content.decode()
    pack.refresh_from_db()
    reason = "生成进程已中断(超过1分钟无进展),请重新生成"
    assert pack.state == PackState.FAILED and pack.error == reason and reason in page and "重新生成" in page
    fail = LedgerEntry.objects.filter(action="pack.fail", obj_id=str(pack.pk)).get()
    assert fail.reason == reason and fail.before["state"] == "running" and fail.after["state"] == "failed"
    with pytest.raises(packs.PackAbandoned):  # the old worker, should it wake up, stops
        beat(41, "8.1 三会一课")
    assert ledger.verify().ok

    with django_capture_on_commit_callbacks(execute=True):  # retried: built here (tasks run eagerly in tests)
        client.post(reverse("pack_action", args=[pack.pk, "retry"]))
    pack.refresh_from_db()
    assert pack.state == PackState.DONE, pack.error
    assert verify_pack(Path(pack.zip.path)) == []
    assert list(LedgerEntry.objects.filter(obj_type="audits.evidencepack", obj_id=str(pack.pk)).values_list("action", flat=True)) == [
        "pack.request", "pack.begin", "pack.fail", "pack.retry", "pack.begin", "pack.finish"]
    assert ledger.verify().ok


def test_after_a_stale_pack_a_new_request_is_accepted(held, settings):  # noqa: F811
    settings.QMS_JOB_STALE_SECONDS = 60
    admin = _admin(held["c"])
    pack = packs.pack_request(actor=admin, root=held["c"], start=TODAY, end=TODAY, enqueue=False)
    packs.pack_begin(pack.pk, worker=jobs.Worker(host="worker-2", pid=4242, process=""))
    EvidencePack.objects.filter(pk=pack.pk).update(heartbeat_at=timezone.now() - dt.timedelta(seconds=61))
    again = packs.pack_request(actor=admin, root=held["c"], start=TODAY, end=TODAY, enqueue=False)
    pack.refresh_from_db()
    assert again.pk != pack.pk and again.state == PackState.QUEUED and pack.state == PackState.FAILED
    assert ledger.verify().ok


def test_the_periodic_task_fails_packs_whose_process_is_gone(held, settings):  # noqa: F811
    from audits.tasks import reap_stale_packs

    assert settings.CELERY_BEAT_SCHEDULE["reap-stale-packs"]["task"] == "audits.reap_stale_packs"
    me = jobs.this_process()
    if not me.process:
        pytest.skip("需要 /proc(Linux)")
    admin = _admin(held["c"])
    pack = packs.pack_request(actor=admin, root=held["c"], start=TODAY, end=TODAY, enqueue=False)
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    space = me.process.rsplit("/", 2)[0]
    packs.pack_begin(pack.pk, worker=jobs.Worker(host=me.host, pid=child.pid, process=f"{space}/{child.pid}/1"))
    assert reap_stale_packs.delay().get() == 1  # the heartbeat is fresh, but its process is gone
    pack.refresh_from_db()
    assert pack.state == PackState.FAILED and pack.error == "生成进程已中断(进程已不在运行),请重新生成"
    assert ledger.verify().ok


# ------------------------------------------------------------------------------ kill -9


SEED = r"""
import datetime as dt, json, sys
import django
django.setup()
from django.utils import timezone
from procedures.library_loader import load_library
from qms import services as core
from qms.models import Role
from tests import factories
load_library()
root = factories.small_tree()["committee"]
admin = factories.user("office")
core.role_grant(actor=None, user=admin, role=Role.ADMIN, unit=root, valid_from=dt.date(2020, 1, 1))
print(json.dumps({"root": root.pk, "admin": admin.pk}))
"""

BUILD = r"""
import datetime as dt, sys
import django
django.setup()
from django.contrib.auth import get_user_model
from django.utils import timezone
from audits.evidence import services as packs
from qms.models import Unit
today = timezone.localdate()
admin = get_user_model().objects.get(pk=int(sys.argv[2]))
# no broker: the task runs eagerly, in this (web) process, once the request commits
packs.pack_request(actor=admin, root=Unit.objects.get(pk=int(sys.argv[1])), start=dt.date(today.year, 1, 1), end=today)
"""

NEXT = r"""
import json, sys
from pathlib import Path
import django
django.setup()
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from audits.evidence.verify import verify_pack
from audits.models import EvidencePack
from qms import ledger
pk = int(sys.argv[1])
client = Client()
client.force_login(get_user_model().objects.get(pk=int(sys.argv[2])))
out = {"listed": client.get(reverse("pack_list")).content.decode().count("失败")}
page = client.get(reverse("pack_detail", args=[pk])).content.decode()
pack = EvidencePack.objects.get(pk=pk)
out.update(state=pack.state, error=pack.error, shown=pack.error in page, verify_after_fail=ledger.verify().ok)
client.post(reverse("pack_action", args=[pk, "retry"]))  # built here, eagerly
pack.refresh_from_db()
out.update(retried=pack.state, problems=verify_pack(Path(pack.zip.path)) if pack.zip else ["no zip"], verify=ledger.verify().ok)
print(json.dumps(out, ensure_ascii=False))
"""


def _run(script: str, env: dict, *args) -> dict:
    proc = subprocess.run([sys.executable, "-c", script, *map(str, args)], env=env, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the process identity is read from /proc")
def test_killing_the_web_process_that_builds_a_pack(tmp_path):
    """No broker: the web process builds the pack itself. It is killed (``kill -9``) mid-build;
    the next page shown by a new web process finds the recorded process gone and fails the pack
    with the reason at once (no waiting for the heartbeat timeout), the retry builds a pack that
    ``verify_pack`` accepts, and the ledger verifies."""
    _tools()
    db = tmp_path / "qms.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "qms.settings", "DATABASE_URL": f"sqlite:///{db}", "QMS_VAR_DIR": str(tmp_path),
           "MEDIA_ROOT": str(tmp_path / "media"), "CELERY_BROKER_URL": "", "QMS_JOB_STALE_SECONDS": "3600"}
    subprocess.run([sys.executable, "manage.py", "migrate", "-v0"], env=env, cwd=ROOT, check=True, timeout=300)
    seeded = _run(SEED, env)
    log = tmp_path / "web.log"
    with log.open("wb") as out:
        web = subprocess.Popen([sys.executable, "-c", BUILD, str(seeded["root"]), str(seeded["admin"])], env=env, cwd=ROOT,
                               stdout=out, stderr=out)
    row = None
    deadline = time.monotonic() + 300
    with sqlite3.connect(db, timeout=30) as look:  # WAL: read while the web process writes
        while time.monotonic() < deadline and web.poll() is None:
            row = look.execute("SELECT id, state, percent, worker_pid FROM audits_evidencepack").fetchone()
            if row and row[1] == "running" and row[2] >= 2:  # the layout has begun
                break
            time.sleep(0.02)
    assert web.poll() is None, log.read_text()[-3000:]
    os.kill(web.pid, signal.SIGKILL)
    web.wait()
    pk, state, percent, pid = row
    assert state == "running" and pid == web.pid and 2 <= percent < 100  # the web process recorded itself, mid-build

    out = _run(NEXT, env, pk, seeded["admin"])
    assert out["state"] == "failed" and out["error"] == "生成进程已中断(进程已不在运行),请重新生成" and out["shown"]
    assert out["verify_after_fail"] and out["listed"] >= 1
    assert out["retried"] == "done" and out["problems"] == [] and out["verify"]


@pytest.mark.celery_worker
def test_killing_the_celery_worker_child_that_builds_a_pack(celery_worker_process, client):
    """A real worker's child is killed (``kill -9``) mid-build: the pack is failed with the reason
    — by the task delivered again to the new child (acks_late, reject_on_worker_lost), or by the
    progress page polled meanwhile, whichever comes first — and the retry, built by the worker,
    verifies; so does the ledger."""
    from procedures.library_loader import load_library

    load_library()
    root = factories.small_tree()["committee"]
    admin = _admin(root)
    client.force_login(admin)
    pack = packs.pack_request(actor=admin, root=root, start=dt.date(TODAY.year, 1, 1), end=TODAY)  # enqueued on commit
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pack.refresh_from_db()
        if pack.state != PackState.QUEUED and (pack.state != PackState.RUNNING or pack.percent >= 2):
            break
        time.sleep(0.02)
    assert pack.state == PackState.RUNNING and pack.worker_pid not in (None, celery_worker_process.pid, os.getpid())
    os.kill(pack.worker_pid, signal.SIGKILL)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if client.get(reverse("pack_progress", args=[pack.pk])).json()["state"] == "failed":
            break
        time.sleep(0.5)
    pack.refresh_from_db()
    assert pack.state == PackState.FAILED and pack.error == "生成进程已中断(进程已不在运行),请重新生成"
    assert ledger.verify().ok

    client.post(reverse("pack_action", args=[pack.pk, "retry"]))  # queued again; the worker builds it
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        pack.refresh_from_db()
        if pack.state in (PackState.DONE, PackState.FAILED):
            break
        time.sleep(0.5)
    assert pack.state == PackState.DONE, pack.error
    assert packs.verify_stored(pack) == [] and verify_pack(Path(pack.zip.path)) == []
    assert ledger.verify().ok
