"""Upgrades without losing anything (docs/deploy.md §14): the demo committee's database as the
release at RELEASE left it (tests/fixtures/upgrade/, made by refresh.sh from that commit's
checkout), loaded into a fresh PostgreSQL database and upgraded with the current code — ``migrate``
then ``load_procedures`` — after which ``verify_ledger`` passes and the compliance figures are the
ones that release computed."""
from __future__ import annotations

import gzip
import json
import os
import secrets
import shutil
import subprocess
import sys
from pathlib import Path

import psycopg
import pytest
from django.db import connection

from tests.conftest import IN_CI, require_postgres

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "tests/fixtures/upgrade"
#: the release the fixture was made at (git tag it; refresh the fixture at each new tag)
RELEASE = "f43d92a"


def _conninfo(name: str) -> str:
    db = connection.settings_dict
    return (f"postgresql://{db['USER']}:{db['PASSWORD']}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{name}")


def test_fixture_is_small_and_from_the_release():
    dump = FIXTURES / f"{RELEASE}.sql.gz"
    assert dump.stat().st_size < 5 * 2**20
    expected = json.loads((FIXTURES / f"{RELEASE}.json").read_text(encoding="utf-8"))
    assert expected["years"] and expected["ledger_entries"] > 1000  # a real history, not an empty tree


def test_release_database_upgrades_with_ledger_intact_and_figures_unchanged(db):
    require_postgres()
    if shutil.which("psql") is None:
        if IN_CI:
            pytest.fail("CI=true 时必须安装 psql")
        pytest.skip("需要 psql")
    expected = json.loads((FIXTURES / f"{RELEASE}.json").read_text(encoding="utf-8"))
    name = f"qms_upgrade_{secrets.token_hex(4)}"
    admin = _conninfo(connection.settings_dict["NAME"])
    with psycopg.connect(admin, autocommit=True) as c:
        c.execute(f'CREATE DATABASE "{name}"')
    try:
        sql = gzip.decompress((FIXTURES / f"{RELEASE}.sql.gz").read_bytes())
        load = subprocess.run(["psql", _conninfo(name), "-q", "-v", "ON_ERROR_STOP=1", "-f", "-"], input=sql,
                              capture_output=True)
        assert load.returncode == 0, load.stderr.decode()[-2000:]
        env = {**os.environ, "DATABASE_URL": _conninfo(name).replace("postgresql://", "postgres://"),
               "CELERY_BROKER_URL": "", "QMS_VAR_DIR": str(Path(os.environ.get("TMPDIR", "/tmp")) / name)}
        # the upgrade steps of docs/deploy.md §14, with the current code; then the same figures; then
        # one ledger row changed behind the product must fail the same check (it can fail)
        script = (
            "from django.core.management import call_command\n"
            "from django.db import connection\n"
            "from qms import ledger\n"
            "call_command('migrate', verbosity=0, skip_checks=True)\n"
            "call_command('load_procedures', verbosity=0)\n"
            "call_command('verify_ledger')\n"
            f"exec(open({str(FIXTURES / 'figures.py')!r}).read())\n"
            f"print('FIGURES=' + dump({expected['today']!r}).replace(chr(10), ' '))\n"
            "with connection.cursor() as c:\n"
            "    c.execute('ALTER TABLE qms_ledgerentry DISABLE TRIGGER USER')\n"
            "    c.execute(\"UPDATE qms_ledgerentry SET reason = reason || 'x' WHERE seq = (SELECT max(seq) FROM qms_ledgerentry)\")\n"
            "print('TAMPERED_OK=' + str(ledger.verify(check_objects=False).ok))\n"
        )
        run = subprocess.run([sys.executable, "manage.py", "shell", "--no-imports", "-c", script], cwd=ROOT, env=env,
                             capture_output=True, text=True, timeout=300)
        assert run.returncode == 0, run.stdout[-2000:] + run.stderr[-4000:]
        assert "留痕台账校验通过" in run.stdout
        got = json.loads(run.stdout.split("FIGURES=", 1)[1].split("\n", 1)[0])
        assert got["years"] == expected["years"]
        assert got["ledger_entries"] >= expected["ledger_entries"]  # nothing lost; an upgrade may only add
        assert "TAMPERED_OK=False" in run.stdout
    finally:
        with psycopg.connect(admin, autocommit=True) as c:
            c.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
