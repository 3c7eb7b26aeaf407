"""Shared fixtures. Services needing PostgreSQL/Redis skip on SQLite, but never with CI=true."""
from __future__ import annotations

import os
import threading
import time
import traceback

import pytest
from django.db import OperationalError, connection
from django.db.backends.signals import connection_created

from tests import factories

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_postgres():
    if connection.vendor != "postgresql":
        if IN_CI:
            pytest.fail("CI=true 时必须使用 PostgreSQL 运行本测试(设置 DATABASE_URL)")
        pytest.skip("需要 PostgreSQL(设置 DATABASE_URL 后运行)")


def tamper(sql: str, params=()) -> None:
    """Change the database behind the product's back, as the tables' owner could (on PostgreSQL
    the ledger's append-only trigger is switched off for the statement)."""
    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("ALTER TABLE qms_ledgerentry DISABLE TRIGGER USER")
        c.execute(sql, params)
        if connection.vendor == "postgresql":
            c.execute("ALTER TABLE qms_ledgerentry ENABLE TRIGGER USER")


def _allow_owner_truncate(sender, connection, **kwargs):
    """Transactional tests end with a TRUNCATE of every table; on PostgreSQL the ledger's
    trigger refuses it unless the table owner opts in for the session (migration 0002).
    Tests that check the refusal RESET the setting first."""
    if connection.vendor == "postgresql":
        with connection.cursor() as c:
            c.execute("SET qms.ledger_truncate = 'on'")
            c.execute("SELECT pg_backend_pid()")
            _OPENED[c.fetchone()[0]] = (f"{threading.current_thread().name}, during {_CURRENT}",
                                        "".join(traceback.format_stack(limit=14)[:-1]))


#: PostgreSQL backend pid → (thread and test, where) of each connection this process opened: a
#: connection left on the test database at the end is named with the test, thread and code that opened it
_OPENED: dict[int, tuple[str, str]] = {}
_CURRENT = ""  # the test being set up or run (pytest_runtest_setup)

connection_created.connect(_allow_owner_truncate)


@pytest.fixture
def tree(db):
    return factories.small_tree()


# ------------------------------------------------------------------ Celery: eager by default

from qms.celery import app as celery_app  # noqa: E402

celery_app.conf.task_always_eager = True  # unit tests run tasks in-process; see below for a real worker


@pytest.fixture
def celery_worker_process(transactional_db):
    """A real Celery worker on Redis, sharing the PostgreSQL test database.

    Needs CELERY_BROKER_URL and PostgreSQL; skipped without them locally, failing in CI.
    """
    import subprocess
    import sys
    import uuid
    from pathlib import Path

    from django.conf import settings

    broker = settings.CELERY_BROKER_URL
    if not broker:
        if IN_CI:
            pytest.fail("CI=true 时必须设置 CELERY_BROKER_URL 并运行 Redis")
        pytest.skip("需要 Redis(设置 CELERY_BROKER_URL 后运行)")
    require_postgres()
    db = connection.settings_dict
    url = f"postgres://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"
    queue = f"qms-test-{uuid.uuid4().hex[:8]}"
    packs = f"{queue}-packs"  # evidence packs are routed to their own queue (qms/celery.py): this worker takes both
    # every pack the worker builds is laid out by two processes, whatever this machine's settings (its child is a daemon)
    env = {**os.environ, "DATABASE_URL": url, "CELERY_BROKER_URL": broker,
           "QMS_PACK_PROCESSES": "2", "QMS_PACK_PARALLEL_FROM_BYTES": "0"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "qms", "worker", "--concurrency=1", "--without-mingle",
         "--without-gossip", "-Q", f"{queue},{packs}", "--loglevel=WARNING", "-n", f"{queue}@%h"],
        env=env, cwd=Path(__file__).resolve().parent.parent,
    )
    old = (celery_app.conf.task_always_eager, celery_app.conf.task_default_queue, settings.QMS_QUEUE_PACKS)
    celery_app.conf.task_always_eager = False
    celery_app.conf.task_default_queue = queue
    settings.QMS_QUEUE_PACKS = packs
    try:
        yield proc
    finally:
        celery_app.conf.task_always_eager, celery_app.conf.task_default_queue, settings.QMS_QUEUE_PACKS = old
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


@pytest.fixture(autouse=True, scope="session")
def _demo_progress_file(tmp_path_factory):
    """Pages say when a demo history is being built in the background (qms/demo.py); a developer's
    own ``make run`` under var/ must not show in the tests' pages."""
    from django.conf import settings

    settings.DEMO_PROGRESS_FILE = tmp_path_factory.mktemp("demo") / "demo-history.json"


@pytest.fixture(autouse=True, scope="session")
def _roster_pending_dir(tmp_path_factory):
    """Roster files waiting for confirm (qms/roster_pending.py) go to a temporary folder, not var/."""
    from django.conf import settings

    settings.QMS_ROSTER_PENDING_DIR = tmp_path_factory.mktemp("roster-pending")


@pytest.fixture(autouse=True, scope="session")
def _fast_password_hashing():
    """Tests create many logins and electronic signatures re-check the password at each signing:
    hash with MD5 in tests (PBKDF2's 1,000,000 rounds cost ~0.3 s a time). Production keeps
    Django's default; PBKDF2 hashes made before this switch still verify (second in the list)."""
    from django.test.utils import override_settings

    fast = override_settings(PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher",
                                               "django.contrib.auth.hashers.PBKDF2PasswordHasher"])
    fast.enable()
    yield
    fast.disable()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item):
    """Before any fixture of a test: connections opened from here on (the database fixtures' own,
    those of the processes a test starts — Celery workers, gunicorn, the pack's layout processes —
    which inherit libpq's PGAPPNAME) carry the test's name, so one left behind names its test."""
    global _CURRENT
    _CURRENT = item.nodeid
    os.environ["PGAPPNAME"] = f"qms-test {item.name}"[:63]


@pytest.fixture(autouse=True, scope="session")
def _no_connection_left_behind(django_db_setup, django_db_blocker):
    """At the end, the test database must have no other session, or pytest-django cannot drop it
    (and the run ends in an error however its tests went).

    A process still shutting down gets 30 s; a session still there after that is ended, so the
    database can be dropped, and written to ``var/test-leaks.txt`` — the test it was opened under
    (PGAPPNAME) and, when this process opened it, the thread and the code — which ``.ci/run``
    prints at the end: a harness leak to mend, not a verdict on the product."""
    yield
    if connection.vendor != "postgresql":
        return
    with django_db_blocker.unblock():
        try:
            connection.ensure_connection()
        except OperationalError:  # no test opened the database (a run of plain unit tests): nothing left on it
            return
        deadline = time.monotonic() + 30
        while True:
            with connection.cursor() as c:
                c.execute("SELECT pid, application_name, state, left(query, 120) FROM pg_stat_activity "
                          "WHERE datname = current_database() AND pid <> pg_backend_pid()")
                left = c.fetchall()
                if not left or time.monotonic() > deadline:
                    for pid, *_ in left:
                        c.execute("SELECT pg_terminate_backend(%s)", [pid])
                    break
            time.sleep(0.5)
        connection.close()
    if left:
        from pathlib import Path

        leaks = Path(__file__).resolve().parent.parent / "var" / "test-leaks.txt"
        leaks.parent.mkdir(exist_ok=True)
        with leaks.open("a", encoding="utf-8") as out:
            for pid, app, state, query in left:
                where = (f"opened by thread {_OPENED[pid][0]} at:\n{_OPENED[pid][1]}" if pid in _OPENED
                         else "opened by another process")
                out.write(f"left on the test database and ended: {app or '(no name)'} [{state}] {query}\n{where}\n\n")
