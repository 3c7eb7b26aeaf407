"""备份与恢复 (reliability.md T23): ``manage.py backup --out DIR`` / ``manage.py restore DIR``.
After a restore ``verify_ledger`` passes and the ledger head is the one recorded at backup
time; a folder whose files do not match its manifest is refused before anything is touched.

Runs on the suite's database: SQLite (the online backup API) by default and in CI's SQLite pass,
PostgreSQL (pg_dump on an exported snapshot / pg_restore) in CI's main pass."""
from __future__ import annotations

import io
import json
import shutil

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from qms import ledger
from qms.models import Unit, UnitKind
from tests import factories

DB_FILE = {"sqlite": "db.sqlite3", "postgresql": "db.dump"}


def _backup_and_change(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    (settings.MEDIA_ROOT / "records").mkdir(parents=True)
    (settings.MEDIA_ROOT / "records" / "会议记录.pdf").write_bytes(b"%PDF-1.4 minutes")
    tree = factories.small_tree()
    head = ledger.head()
    out = tmp_path / "backup"
    text = io.StringIO()
    call_command("backup", "--out", str(out), stdout=text)
    assert f"链头序号 {head[0]}" in text.getvalue()
    # the system goes on after the backup: a new unit, a lost file, a new file
    factories.unit("B9", UnitKind.BRANCH, parent=tree["general"], name="第九党支部")
    (settings.MEDIA_ROOT / "records" / "会议记录.pdf").unlink()
    (settings.MEDIA_ROOT / "later.txt").write_text("after the backup")
    assert ledger.head() != head
    return out, head


@pytest.mark.django_db(transaction=True)
def test_restore_brings_back_data_files_and_ledger_head(tmp_path, settings):
    out, head = _backup_and_change(tmp_path, settings)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["ledger_head"] == {"seq": head[0], "hash": head[1]}
    assert set(manifest["files"]) == {DB_FILE[connection.vendor], "media/records/会议记录.pdf"}

    # a folder not matching its manifest is refused, and nothing is touched
    now = ledger.head()
    for tamper in ("media", "database", "missing", "extra"):
        bad = tmp_path / f"bad-{tamper}"
        shutil.copytree(out, bad)
        if tamper == "media":
            (bad / "media" / "records" / "会议记录.pdf").write_bytes(b"%PDF-1.4 forged")
        elif tamper == "database":
            with (bad / DB_FILE[connection.vendor]).open("r+b") as f:
                f.seek(200)
                byte = f.read(1)
                f.seek(200)
                f.write(bytes([byte[0] ^ 1]))
        elif tamper == "missing":
            (bad / "media" / "records" / "会议记录.pdf").unlink()
        else:
            (bad / "media" / "planted.html").write_text("<script>")
        with pytest.raises(CommandError, match="拒绝恢复"):
            call_command("restore", str(bad), "--yes", stdout=io.StringIO())
        assert ledger.head() == now and Unit.objects.filter(code="B9").exists(), tamper
        assert (settings.MEDIA_ROOT / "later.txt").exists(), tamper

    text = io.StringIO()
    call_command("restore", str(out), "--yes", stdout=text)
    assert "与备份时一致" in text.getvalue()
    assert ledger.head() == head and ledger.verify().ok
    assert not Unit.objects.filter(code="B9").exists() and Unit.objects.filter(code="B1").exists()
    assert (settings.MEDIA_ROOT / "records" / "会议记录.pdf").read_bytes() == b"%PDF-1.4 minutes"
    assert not (settings.MEDIA_ROOT / "later.txt").exists()
    aside = list(tmp_path.glob("media.before-restore-*"))
    assert len(aside) == 1 and (aside[0] / "later.txt").exists()  # what was there is kept aside, not deleted
    out2 = io.StringIO()
    call_command("verify_ledger", stdout=out2)
    assert "校验通过" in out2.getvalue()


def test_backup_needs_an_empty_folder(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CommandError, match="不是空的"):
        call_command("backup", "--out", str(tmp_path / "full"), stdout=io.StringIO())
