"""外部校验点 — the ledger's head signed with a key kept outside the database.

``verify_ledger`` proves that the chain is self-consistent; a database administrator who
rewrites an entry *and every hash after it* leaves a chain that is self-consistent again.
Such a rewrite is noticed only against something held outside the database (reliability.md
T7: immudb client state, Certificate Transparency signed tree heads). ``manage.py
ledger_checkpoint --out FILE`` writes that thing: the head (``seq``, ``hash``) after a full
verification, plus the hashes of up to ``ANCHORS`` entries spread evenly along the chain (so
that a rewrite is located, not only noticed), signed with HMAC-SHA256. ``verify_ledger
--checkpoint FILE`` checks the signature and compares every hash in the file with the
database.

The key (校验点密钥) is never in the database: the environment variable
``QMS_CHECKPOINT_KEY``, or the file named by ``settings.QMS_CHECKPOINT_KEY_FILE`` (created
with mode 0600 when absent). Whoever keeps the key should not be the database's
administrator, and the files are kept off this server (docs/operations.md).

The database-side ``LedgerCheckpoint`` (``ledger.checkpoint``) records every verification;
writing a file also writes one, so the two agree.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings

from qms import ledger
from qms.models import LedgerCheckpoint, LedgerEntry

FORMAT = "qms-ledger-checkpoint/1"
#: At most this many entries' hashes are kept in a file besides the head: a 100,000-entry ledger
#: gives a file of about 20 KB and locates a rewrite within 400 entries; a small one, exactly.
ANCHORS = 256


class CheckpointError(ValueError):
    """A checkpoint file that cannot be used: unreadable, of another format, or signed with
    another key (or altered). The message is for the operator, in Chinese."""


def key() -> bytes:
    """The signing key: ``QMS_CHECKPOINT_KEY`` if set, else the key file (created 0600 if absent)."""
    env = os.environ.get("QMS_CHECKPOINT_KEY", "")
    if env:
        return env.encode("utf-8")
    path = Path(settings.QMS_CHECKPOINT_KEY_FILE)
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    text = path.read_text().strip()
    if not text:
        raise CheckpointError(f"校验点密钥文件为空:{path}")
    return text.encode("utf-8")


def key_id(k: bytes) -> str:
    """Names the key without revealing it (the first 16 hex digits of its SHA-256)."""
    return hashlib.sha256(k).hexdigest()[:16]


def _body_bytes(body: dict[str, Any]) -> bytes:
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _sign(body: dict[str, Any], k: bytes) -> str:
    return hmac.new(k, _body_bytes(body), hashlib.sha256).hexdigest()


def _anchor_seqs(head_seq: int) -> list[int]:
    if head_seq <= 0:
        return []
    step = -(-head_seq // ANCHORS)
    seqs = set(range(step, head_seq + 1, step))
    seqs.add(head_seq)
    return sorted(seqs)


def make(*, k: bytes | None = None) -> tuple[dict[str, Any] | None, LedgerCheckpoint]:
    """Verify the whole ledger (storing a ``LedgerCheckpoint``) and return the signed
    checkpoint of the head it saw, with that record. Only an intact ledger is signed: when
    the verification fails, no checkpoint is returned (None) and the record says why."""
    k = key() if k is None else k
    cp = ledger.checkpoint()
    if not cp.ok:
        return None, cp
    seqs = _anchor_seqs(cp.head_seq)
    hashes = dict(LedgerEntry.objects.filter(seq__in=seqs).values_list("seq", "hash"))
    body = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "head_seq": cp.head_seq,
        "head_hash": cp.head_hash,
        "entries": cp.entries,
        "anchors": [[s, hashes[s]] for s in seqs if s in hashes],
        "key_id": key_id(k),
    }
    return {**body, "signature": _sign(body, k)}, cp


def write(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")


def load(path: Path, *, k: bytes | None = None) -> dict[str, Any]:
    """Read a checkpoint file and check its signature; CheckpointError when it cannot be trusted."""
    k = key() if k is None else k
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise CheckpointError(f"校验点文件不存在:{path}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"校验点文件无法读取:{path}") from exc
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise CheckpointError("不是本系统的留痕校验点文件")
    signature = data.pop("signature", "")
    if data.get("key_id") != key_id(k):
        raise CheckpointError("校验点文件不是用当前密钥签名的(密钥编号不符),无法核对")
    if not isinstance(signature, str) or not hmac.compare_digest(signature, _sign(data, k)):
        raise CheckpointError("校验点文件的签名无效:文件被改动过")
    try:
        data["head_seq"] = int(data["head_seq"])
        data["anchors"] = [(int(s), str(h)) for s, h in data.get("anchors", [])]
        str(data["head_hash"])
    except (KeyError, TypeError, ValueError) as exc:
        raise CheckpointError("校验点文件内容不完整") from exc
    return data


def compare(data: dict[str, Any]) -> list[ledger.Problem]:
    """Every hash the checkpoint holds against the database. A rewritten entry changes its own
    hash and (through ``prev_hash``) every later one, so the first anchor that differs locates
    the rewrite: at or before it and after the anchor before it."""
    points = dict(data["anchors"])
    points[data["head_seq"]] = data["head_hash"]
    if not points or data["head_seq"] == 0:
        return []
    stored = dict(LedgerEntry.objects.filter(seq__in=list(points)).values_list("seq", "hash"))
    problems: list[ledger.Problem] = []
    previous_good = 0
    for seq in sorted(points):
        actual = stored.get(seq)
        if actual is None:
            problems.append(ledger.Problem(seq, "checkpoint", (
                f"序号 {seq} 在外部校验点({data.get('created_at', '')})中存在,但数据库中已没有该记录(链被截断或删除)")))
            break
        if actual != points[seq]:
            where = f"(改写发生在序号 {previous_good + 1} 至 {seq} 之间)" if seq > previous_good + 1 else ""
            problems.append(ledger.Problem(seq, "checkpoint", (
                f"序号 {seq} 的哈希与外部校验点({data.get('created_at', '')})不符:该记录或其之前的记录在数据库中被改写{where}")))
            break
        previous_good = seq
    return problems
