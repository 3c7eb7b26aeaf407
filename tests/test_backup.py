"""备份与恢复 (reliability.md T23): ``manage.py backup --out DIR`` / ``manage.py restore DIR``.
After a restore ``verify_ledger`` passes and the ledger head is the one recorded at backup
time; a folder whose files do not match its manifest is refused before anything is touched.
SQLite here; tests/test_backup_pg.py does the same on PostgreSQL (in CI)."""
from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from qms import ledger
from qms.models import Unit, UnitKind
from tests import factories


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
    assert set(manifest["files"]) == {"db.sqlite3", "media/records/会议记录.pdf"}
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


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("tamper", ["media", "database", "missing", "extra"])
def test_restore_refuses_a_folder_not_matching_its_manifest(tmp_path, settings, tamper):
    out, head = _backup_and_change(tmp_path, settings)
    if tamper == "media":
        (out / "media" / "records" / "会议记录.pdf").write_bytes(b"%PDF-1.4 forged")
    elif tamper == "database":
        with (out / "db.sqlite3").open("r+b") as f:
            f.seek(200)
            f.write(b"\x01")
    elif tamper == "missing":
        (out / "media" / "records" / "会议记录.pdf").unlink()
    else:
        (out / "media" / "planted.html").write_text("<script>")
    now = ledger.head()
    with pytest.raises(CommandError, match="拒绝恢复"):
        call_command("restore", str(out), "--yes", stdout=io.StringIO())
    assert ledger.head() == now and Unit.objects.filter(code="B9").exists()  # nothing was touched
    assert (settings.MEDIA_ROOT / "later.txt").exists()


@pytest.mark.django_db(transaction=True)
def test_backup_needs_an_empty_folder(tmp_path, settings):
    settings.MEDIA_ROOT = tmp_path / "media"
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("x")
    with pytest.raises(CommandError, match="不是空的"):
        call_command("backup", "--out", str(tmp_path / "full"), stdout=io.StringIO())
