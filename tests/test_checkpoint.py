"""External ledger checkpoints (外部校验点, reliability.md T7): ``ledger_checkpoint --out FILE``
signs the head with a key kept outside the database; ``verify_ledger --checkpoint FILE``
notices a chain rewritten consistently inside the database, naming the rewritten entry."""
from __future__ import annotations

import io
import json
import stat
from contextlib import contextmanager

import pytest
from django.core.management import call_command
from django.db import connection

from qms import checkpoint, ledger
from qms.models import LedgerCheckpoint, LedgerEntry

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _key(monkeypatch):
    monkeypatch.setenv("QMS_CHECKPOINT_KEY", "test-checkpoint-key-kept-outside-the-database")


def _verify(*args) -> tuple[int, str]:

    out, err = io.StringIO(), io.StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=err)
        return 0, out.getvalue()
    except SystemExit as exc:
        return exc.code, err.getvalue()


@contextmanager
def _as_owner():
    """Behind the application's back, as the table owner (PostgreSQL: the append-only trigger off)."""
    with connection.cursor() as c:
        if connection.vendor == "postgresql":
            c.execute("ALTER TABLE qms_ledgerentry DISABLE TRIGGER USER")
        try:
            yield c
        finally:
            if connection.vendor == "postgresql":
                c.execute("ALTER TABLE qms_ledgerentry ENABLE TRIGGER USER")


def _rewrite_consistently_from(seq: int) -> None:
    """What a DBA could do: change one entry's content with raw SQL and recompute its hash
    and every later ``prev_hash``/``hash``, so the chain is self-consistent again."""
    prev = LedgerEntry.objects.filter(seq=seq - 1).values_list("hash", flat=True).first() or ledger.GENESIS_HASH
    rows = list(LedgerEntry.objects.filter(seq__gte=seq).order_by("seq"))
    with _as_owner() as c:
        for e in rows:
            reason = e.reason + "(事后改写)" if e.seq == seq else e.reason
            payload = ledger.canonical(seq=e.seq, ts=e.ts, actor_id=e.actor_id, actor_name=e.actor_name, action=e.action,
                                       obj_type=e.obj_type, obj_id=e.obj_id, before=e.before, after=e.after, reason=reason)
            h = ledger.chain_hash(prev, payload)
            c.execute("UPDATE qms_ledgerentry SET reason = %s, prev_hash = %s, hash = %s WHERE seq = %s",
                      [reason, prev, h, e.seq])
            prev = h


def test_checkpoint_file_is_signed_and_matches_an_intact_ledger(tree, tmp_path):
    out = tmp_path / "head.json"
    call_command("ledger_checkpoint", "--out", str(out), stdout=io.StringIO())
    data = json.loads(out.read_text())
    head_seq, head_hash = ledger.head()
    assert (data["head_seq"], data["head_hash"]) == (head_seq, head_hash) and head_seq > 0
    assert len(data["signature"]) == 64 and "key" not in data  # the key itself is never written
    assert LedgerCheckpoint.objects.filter(head_seq=head_seq, ok=True).exists()  # the DB-side record too
    code, text = _verify("--checkpoint", str(out))
    assert code == 0 and "与外部校验点" in text


def test_consistent_rewrite_passes_in_db_verify_but_not_the_checkpoint(tree, tmp_path):
    out = tmp_path / "head.json"
    call_command("ledger_checkpoint", "--out", str(out), stdout=io.StringIO())
    head_seq, _ = ledger.head()
    target = head_seq // 2
    _rewrite_consistently_from(target)
    assert ledger.verify().ok  # the rewritten chain is self-consistent: the database alone cannot tell
    code, text = _verify()
    assert code == 0
    code, text = _verify("--checkpoint", str(out))
    assert code == 1
    assert f"第一个出错的序号:{target}" in text and f"序号 {target} 的哈希与外部校验点" in text


def test_truncated_chain_is_named(tree, tmp_path):
    out = tmp_path / "head.json"
    call_command("ledger_checkpoint", "--out", str(out), stdout=io.StringIO())
    head_seq, _ = ledger.head()
    with _as_owner() as c:  # the newest entry removed
        c.execute("DELETE FROM qms_ledgerentry WHERE seq = %s", [head_seq])
    code, text = _verify("--chain-only", "--checkpoint", str(out))
    assert code == 1 and f"序号 {head_seq} 在外部校验点" in text


def test_altered_file_or_other_key_is_refused(tree, tmp_path, monkeypatch):
    out = tmp_path / "head.json"
    call_command("ledger_checkpoint", "--out", str(out), stdout=io.StringIO())
    data = json.loads(out.read_text())
    data["head_seq"] -= 1
    forged = tmp_path / "forged.json"
    forged.write_text(json.dumps(data))
    code, text = _verify("--checkpoint", str(forged))
    assert code == 1 and "签名无效" in text
    monkeypatch.setenv("QMS_CHECKPOINT_KEY", "another-key")
    code, text = _verify("--checkpoint", str(out))
    assert code == 1 and "密钥编号不符" in text
    code, text = _verify("--checkpoint", str(tmp_path / "absent.json"))
    assert code == 1 and "不存在" in text


def test_no_checkpoint_is_signed_for_a_broken_ledger(tree, tmp_path):
    with _as_owner() as c:
        c.execute("UPDATE qms_ledgerentry SET reason = 'x' WHERE seq = 2")
    out = tmp_path / "head.json"
    with pytest.raises(SystemExit) as exc:
        call_command("ledger_checkpoint", "--out", str(out), stdout=io.StringIO(), stderr=io.StringIO())
    assert exc.value.code == 1 and not out.exists()


def test_key_file_is_created_0600_outside_the_database(tmp_path, monkeypatch, settings):
    monkeypatch.delenv("QMS_CHECKPOINT_KEY")
    settings.QMS_CHECKPOINT_KEY_FILE = tmp_path / "keys" / "checkpoint_key"
    k = checkpoint.key()
    path = settings.QMS_CHECKPOINT_KEY_FILE
    assert path.exists() and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(k) == 64 and checkpoint.key() == k  # read back, not regenerated


def test_anchors_locate_a_rewrite_in_a_long_chain():
    seqs = checkpoint._anchor_seqs(100_000)
    assert len(seqs) <= checkpoint.ANCHORS + 1 and seqs[-1] == 100_000
    assert checkpoint._anchor_seqs(10) == list(range(1, 11))
