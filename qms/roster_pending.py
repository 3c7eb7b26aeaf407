"""待确认的花名册文件 — an uploaded roster file kept on the server between preview and confirm.

The preview page shows what an import would do; the confirm step must import exactly that file,
without the user uploading it again. The file is kept under ``settings.QMS_ROSTER_PENDING_DIR``
(or, with ``QMS_STORAGE=s3``, in the shared bucket under ``roster-pending/``, so that the confirm
may reach another web node than the preview: docs/deploy.md) by a random token, with its sha256, the uploading user and the time of upload. It is found
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
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage
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


def _storage():
    """Where pending files are kept, and the prefix of their names there: the local folder
    QMS_ROSTER_PENDING_DIR, or the shared object storage when files are kept there."""
    if getattr(settings, "QMS_STORAGE", "local") == "s3":
        return default_storage, "roster-pending/"
    path = Path(settings.QMS_ROSTER_PENDING_DIR)
    path.mkdir(parents=True, exist_ok=True)
    return FileSystemStorage(location=path), ""


def _read(storage, name: str) -> bytes:
    if not storage.exists(name):
        raise FileNotFoundError(name)
    with storage.open(name, "rb") as f:
        return f.read()


def lifetime() -> dt.timedelta:
    return dt.timedelta(hours=float(limits.table().roster.get("pending_hours", 24)))


def _names(token: str) -> tuple[str, str]:
    prefix = _storage()[1]
    return f"{prefix}{token}.data", f"{prefix}{token}.json"


def purge_expired(now: dt.datetime | None = None) -> int:
    """Delete the files whose time is up; how many."""
    now = now or timezone.now()
    gone = 0
    storage, prefix = _storage()
    try:
        names = storage.listdir(prefix.rstrip("/"))[1]
    except FileNotFoundError:
        names = []
    for name in sorted(n for n in names if n.endswith(".json")):
        try:
            uploaded = dt.datetime.fromisoformat(json.loads(_read(storage, prefix + name).decode("utf-8"))["uploaded"])
        except (OSError, ValueError, KeyError):
            uploaded = None
        if uploaded is None or now - uploaded > lifetime():
            discard(name.removesuffix(".json"))
            gone += 1
    return gone


def stage(data: bytes, *, user, filename: str = "") -> Pending:
    """Keep ``data`` for ``user``; the token that finds it again."""
    purge_expired()
    token = secrets.token_urlsafe(24)
    pending = Pending(token, user.pk, hashlib.sha256(data).hexdigest(), filename[:200], timezone.now())
    storage = _storage()[0]
    data_name, meta_name = _names(token)
    storage.save(data_name, ContentFile(data))
    storage.save(meta_name, ContentFile(json.dumps({"user_id": pending.user_id, "sha256": pending.sha256,
                                                    "filename": pending.filename, "uploaded": pending.uploaded.isoformat()},
                                                   ensure_ascii=False).encode("utf-8")))
    return pending


def load(token: str, *, user) -> tuple[Pending, bytes] | None:
    """The file behind ``token`` if it is ``user``'s, fresh and intact; else None."""
    if not isinstance(token, str) or not _TOKEN.fullmatch(token) or user is None or user.pk is None:
        return None
    storage = _storage()[0]
    data_name, meta_name = _names(token)
    try:
        meta = json.loads(_read(storage, meta_name).decode("utf-8"))
        data = _read(storage, data_name)
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
    storage = _storage()[0]
    for name in _names(token):
        storage.delete(name)
