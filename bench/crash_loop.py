"""T15 · the Celery crash loop: a real worker on Redis, its child SIGKILLed in the middle of a
task N times, the effects counted.

For each configuration (``--modes``: ``product`` = the product's settings, acks_late +
reject_on_worker_lost; ``defaults`` = Celery's defaults; ``acks_late_only`` = acks_late
without reject_on_worker_lost) one prefork worker (concurrency 1) is started on Redis DB 5 and
a SQLite file; then N times: enqueue ``bench.crash_effect(key)`` (bench/crash_tasks.py: half a
second of work, its effect — one ledger entry for ``key``, written once however often it
runs — then 0.3 s more), wait until the task has started, wait a random 0–0.8 s (before or
after the effect, always before the task returns) and SIGKILL the child running it; the worker
starts a new child by itself. Then wait for the queue to drain and count, per key, the ledger
entries (the effects) and the attempts; ``verify`` the ledger at the end.

    .venv/bin/python bench/crash_loop.py                  # N=100, product and defaults
    .venv/bin/python bench/crash_loop.py -n 20 --modes product,defaults,acks_late_only
    CELERY_BROKER_URL=redis://127.0.0.1:6379/5 (default); the database is a SQLite file in var/
"""
from __future__ import annotations

import argparse
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=100)
    p.add_argument("--modes", default="product,defaults")
    p.add_argument("--broker", default=os.environ.get("BENCH_BROKER_URL", "redis://127.0.0.1:6379/5"))
    p.add_argument("--db", default=str(ROOT / "var" / "crash_loop.sqlite3"))
    p.add_argument("--seed", type=int, default=15)
    args = p.parse_args()
    random.seed(args.seed)

    db = Path(args.db)
    db.parent.mkdir(parents=True, exist_ok=True)
    for f in (db, Path(f"{db}-wal"), Path(f"{db}-shm")):
        f.unlink(missing_ok=True)
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "qms.settings", "DATABASE_URL": f"sqlite:///{db}",
           "CELERY_BROKER_URL": args.broker, "CELERY_RESULT_BACKEND": ""}
    os.environ.update(env)
    import django

    django.setup()
    from django.db import connection

    from qms import ledger
    from qms.celery import app
    from qms.models import LedgerEntry

    with connection.schema_editor() as editor:  # the one table the task writes
        editor.create_model(LedgerEntry)
    import redis

    r = redis.Redis.from_url(args.broker)
    r.flushdb()  # DB 5 is this bench's own
    results = []
    for mode in args.modes.split(","):
        results.append(run_mode(mode, args.n, app, r, env))
    connection.close()
    check = ledger.verify(check_objects=False)
    print()
    print(f"T15 crash loop, N={args.n} per configuration, {os.cpu_count()} CPU, Celery {__import__('celery').__version__}, Redis DB {args.broker.rsplit('/', 1)[-1]}, SQLite")
    print(f"{'configuration':<16} {'killed':>6} {'before effect':>13} {'effects once':>12} {'lost':>5} {'twice+':>6} {'attempts':>8} {'seconds':>8}")
    for row in results:
        print(f"{row['mode']:<16} {row['killed']:>6} {row['killed_before']:>13} {row['once']:>12} {row['lost']:>5} {row['dup']:>6} {row['attempts']:>8} {row['seconds']:>8.0f}")
    print(f"ledger verify: {'passes' if check.ok else 'FAILS'} ({check.entries} entries)")


def run_mode(mode: str, n: int, app, r, env) -> dict:
    from qms.models import LedgerEntry

    queue = f"bench_crash_{mode}"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "qms.celery", "worker", "-c", "1", "-P", "prefork", "-Q", queue,
         "--include", "bench.crash_tasks", "-n", f"crash-{mode}@%h", "--without-gossip", "--without-mingle",
         "--without-heartbeat", "-l", "ERROR"],
        cwd=ROOT, env={**env, "BENCH_CELERY_MODE": mode}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    t0 = time.monotonic()
    killed = killed_before = 0
    keys = [f"{mode}:{i}" for i in range(1, n + 1)]
    try:
        for key in keys:
            app.send_task("bench.crash_effect", args=[key], queue=queue)
            deadline = time.monotonic() + 120
            while not r.hget("bench:pid", key):
                if time.monotonic() > deadline:
                    raise SystemExit(f"{mode}: {key} never started (is the worker up?)")
                time.sleep(0.01)
            pid = int(r.hget("bench:pid", key))
            time.sleep(random.uniform(0, 0.8))
            if r.hget("bench:done", key):  # finished already (a slow machine): not a kill mid-task
                continue
            before = r.hget("bench:effect_at", key) is None
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                continue
            killed += 1
            killed_before += before
        # drain: every key done, or nothing more happening for 15 s
        last, quiet = None, time.monotonic()
        while time.monotonic() - quiet < 15:
            state = (r.hlen("bench:done"), r.hlen("bench:effect_at"), sum(int(v) for v in r.hvals("bench:attempts")))
            if all(r.hexists("bench:done", k) for k in keys):
                break
            if state != last:
                last, quiet = state, time.monotonic()
            time.sleep(0.5)
    finally:
        worker.terminate()
        try:
            worker.wait(20)
        except subprocess.TimeoutExpired:
            worker.kill()
    counts = {k: LedgerEntry.objects.filter(obj_type="bench.crash", obj_id=k).count() for k in keys}
    attempts = sum(int(r.hget("bench:attempts", k) or 0) for k in keys)
    row = {"mode": mode, "killed": killed, "killed_before": killed_before,
           "once": sum(1 for c in counts.values() if c == 1), "lost": sum(1 for c in counts.values() if c == 0),
           "dup": sum(1 for c in counts.values() if c > 1), "attempts": attempts, "seconds": time.monotonic() - t0}
    print(f"{mode}: {row}", flush=True)
    return row


if __name__ == "__main__":
    main()
