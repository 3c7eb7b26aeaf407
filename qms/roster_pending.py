"""待确认的花名册文件 — an uploaded roster file kept on the server between preview and confirm.

The preview page shows what an import would do; the confirm step must import exactly that file,
without the user uploading it again. The file is kept under ``settings.QMS_ROSTER_PENDING_DIR``
by a random token, with its sha256, the uploading user and the time of upload. It is found
again only by that user, only while it is fresh (``[roster] pending_hours`` in
``rules/limits.toml``), and only if its bytes still match the sha256; otherwise it is as if it
never existed. Nothing here touches the roll or the ledger: a pending file is a working copy,
not a record.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import re
import secrets
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from qms import limits

_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")


@dataclass(frozen=True)
class Pending:
    token: str
    user_id: int
    sha256: str
    filename: str
    uploaded: dt.datetime


def _dir() -> Path:
    path = Path(settings.QMS_ROSTER_PENDING_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return path


def lifetime() -> dt.timedelta:
    return dt.timedelta(hours=float(limits.table().roster.get("pending_hours", 24)))


def _paths(token: str) -> tuple[Path, Path]:
    d = _dir()
    return d / f"{token}.data", d / f"{token}.json"


def purge_expired(now: dt.datetime | None = None) -> int:
    """Delete the files whose time is up; how many."""
    now = now or timezone.now()
    gone = 0
    for meta in _dir().glob("*.json"):
        try:
            uploaded = dt.datetime.fromisoformat(json.loads(meta.read_text(encoding="utf-8"))["uploaded"])
        except (OSError, ValueError, KeyError):
            uploaded = None
        if uploaded is None or now - uploaded > lifetime():
            discard(meta.stem)
            gone += 1
    return gone


def stage(data: bytes, *, user, filename: str = "") -> Pending:
    """Keep ``data`` for ``user``; the token that finds it again."""
    purge_expired()
    token = secrets.token_urlsafe(24)
    pending = Pending(token, user.pk, hashlib.sha256(data).hexdigest(), filename[:200], timezone.now())
    data_path, meta_path = _paths(token)
    data_path.write_bytes(data)
    meta_path.write_text(json.dumps({"user_id": pending.user_id, "sha256": pending.sha256, "filename": pending.filename,
                                     "uploaded": pending.uploaded.isoformat()}, ensure_ascii=False), encoding="utf-8")
    return pending


def load(token: str, *, user) -> tuple[Pending, bytes] | None:
    """The file behind ``token`` if it is ``user``'s, fresh and intact; else None."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token) or user is None or user.pk is None:
        return None
    data_path, meta_path = _paths(token)
    try:
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        data = data_path.read_bytes()
        pending = Pending(token, int(meta["user_id"]), meta["sha256"], meta.get("filename", ""),
                          dt.datetime.fromisoformat(meta["uploaded"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if pending.user_id != user.pk:
        return None
    if timezone.now() - pending.uploaded > lifetime() or hashlib.sha256(data).hexdigest() != pending.sha256:
        discard(token)
        return None
    return pending, data


def discard(token: str) -> None:
    if not _TOKEN.fullmatch(token or ""):
        return
    for path in _paths(token):
        path.unlink(missing_ok=True)
