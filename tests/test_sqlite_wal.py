"""The embedded default's SQLite file (qms/settings.py ``database_settings``): WAL journal, a busy
timeout and IMMEDIATE transactions, so pages keep reading while a long import writes.

The SQLite test database is in memory (it has no journal), so the behaviour is shown in a child
process that starts Django with the product's settings on a database file of its own
(``DATABASE_URL=sqlite:///…``), as ``make run`` does: the main thread writes a long transaction
— a roster import's worth of rows, beyond SQLite's page cache — while other threads, each with
its own connection, read and write."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from qms.settings import SQLITE_BUSY_TIMEOUT, database_settings

ROOT = Path(__file__).resolve().parent.parent

CHILD = r"""
import json, threading, time
import django
django.setup()
from django.db import connection, transaction

ROWS = 20_000  # ≈ 36 MB of text: far beyond the page cache, so the writer spills to the file
with connection.cursor() as c:
    c.execute("CREATE TABLE member (id INTEGER PRIMARY KEY, name TEXT)")
    c.execute("INSERT INTO member (name) VALUES ('张三')")
    c.execute("PRAGMA journal_mode")
    out = {"journal_mode": c.fetchone()[0]}

def read():
    from django.db import connection as own
    began = time.monotonic()
    try:
        with own.cursor() as c:
            c.execute("SELECT count(*) FROM member")
            out["read"] = c.fetchone()[0]
    except Exception as exc:
        out["read"] = f"{type(exc).__name__}: {exc}"
    out["read_seconds"] = time.monotonic() - began
    own.close()

def write():
    from django.db import connection as own
    began = time.monotonic()
    try:
        with transaction.atomic(), own.cursor() as c:
            c.execute("INSERT INTO member (name) VALUES ('李四')")
        out["second_writer"] = "ok"
    except Exception as exc:
        out["second_writer"] = f"{type(exc).__name__}: {exc}"
    out["second_writer_seconds"] = time.monotonic() - began
    own.close()

with transaction.atomic():
    with connection.cursor() as c:
        c.executemany("INSERT INTO member (name) VALUES (%s)", [(f"{i:06d}" + "党" * 600,) for i in range(ROWS)])
    reader = threading.Thread(target=read)
    reader.start()
    reader.join()
    second = threading.Thread(target=write)
    second.start()
    time.sleep(1.5)  # the import goes on; the second writer waits for the write lock
    out["second_writer_before_commit"] = out.get("second_writer", "waiting")
second.join()
with connection.cursor() as c:
    c.execute("SELECT count(*) FROM member")
    out["after"] = c.fetchone()[0]
print(json.dumps(out))
"""


def test_the_embedded_database_is_configured_for_concurrent_readers():
    options = database_settings("sqlite:////tmp/qms-settings-probe.sqlite3")["OPTIONS"]
    assert options["transaction_mode"] == "IMMEDIATE" and options["timeout"] == SQLITE_BUSY_TIMEOUT >= 5
    assert "PRAGMA journal_mode=WAL" in options["init_command"]
    assert "OPTIONS" not in database_settings("postgres://u:p@127.0.0.1:5432/qms")  # PostgreSQL left alone


def test_a_reader_reads_while_a_long_import_writes(tmp_path):
    """While a long write transaction is open (and has spilled to the file) another connection
    reads the last committed state at once, and a second writer waits for the lock instead of
    failing with "database is locked"."""
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "qms.settings", "DATABASE_URL": f"sqlite:///{tmp_path / 'qms.sqlite3'}",
           "QMS_VAR_DIR": str(tmp_path)}
    proc = subprocess.run([sys.executable, "-c", CHILD], env=env, cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["read"] == 1 and out["read_seconds"] < 2  # the committed state, without waiting for the import
    assert out["journal_mode"] == "wal"
    assert out["second_writer_before_commit"] == "waiting"
    assert out["second_writer"] == "ok"  # it went in once the import committed
    assert out["after"] == 20_002
