"""备份与恢复 — the database, the uploaded files and the ledger head, in one folder.

``manage.py backup --out DIR`` writes:

- ``db.sqlite3`` (SQLite, copied with SQLite's online backup API: a consistent copy while the
  system runs) or ``db.dump`` (PostgreSQL, ``pg_dump --format=custom`` on a snapshot exported
  by a repeatable-read transaction, the same snapshot the ledger head is read from);
- ``media/`` — every uploaded and generated file, read through Django's storage API: the local
  folder (``MEDIA_ROOT``) or the S3-compatible bucket (``QMS_STORAGE=s3``) alike;
- ``manifest.json`` — the ledger head (``seq``, ``hash``) of exactly the data dumped, and the
  SHA-256 and size of every file above.

``manage.py restore DIR`` refuses a folder whose files do not match the manifest (a file
changed, missing or added) or that comes from another kind of database, before touching
anything; it then loads the database, puts the uploaded files in place (the files there before
are kept aside: the local folder renamed; in a bucket, each object that is not the backup's
copied under ``before-restore-<time>/`` and then removed), verifies the ledger, and checks that the head is the one the
manifest recorded (reliability.md T23; Annex 11 §17).
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage
from django.db import connection, transaction

from qms import ledger
from qms.checksums import sha256_file

FORMAT = "qms-backup/1"
MANIFEST = "manifest.json"
SQLITE_FILE = "db.sqlite3"
PG_FILE = "db.dump"
MEDIA_DIR = "media"


class BackupError(RuntimeError):
    """A backup or restore that cannot go ahead; the message is for the operator, in Chinese."""


@dataclass
class RestoreResult:
    head: tuple[int, str]
    expected: tuple[int, str]
    verify: ledger.VerifyResult
    media_set_aside: Path | str | None  # the local folder renamed, or the bucket's prefix

    @property
    def ok(self) -> bool:
        return self.verify.ok and self.head == self.expected



def _stored_names(storage, prefix: str = "") -> list[str]:
    """Every file's name in ``storage`` (the local folder or the bucket), sorted."""
    try:
        dirs, files = storage.listdir(prefix)
    except FileNotFoundError:  # the local folder not made yet: no file
        return []
    names = [f"{prefix}{f}" for f in files]
    for d in dirs:
        names += _stored_names(storage, f"{prefix}{d}/")
    return sorted(names)


def _is_local(storage) -> bool:
    return isinstance(storage, FileSystemStorage)


def _sha256_stored(storage, name: str) -> str:
    digest = hashlib.sha256()
    with storage.open(name, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def _pg_env_and_args() -> tuple[dict[str, str], list[str]]:
    db = connection.settings_dict
    env = {**os.environ}
    if db.get("PASSWORD"):
        env["PGPASSWORD"] = str(db["PASSWORD"])
    args = ["--host", str(db.get("HOST") or "127.0.0.1"), "--port", str(db.get("PORT") or 5432),
            "--username", str(db.get("USER") or ""), "--dbname", str(db["NAME"])]
    return env, args


def _run(cmd: list[str], env: dict[str, str], what: str) -> None:
    try:
        done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    except FileNotFoundError as exc:
        raise BackupError(f"找不到 {cmd[0]}:请安装与数据库版本一致的 PostgreSQL 客户端") from exc
    if done.returncode != 0:
        raise BackupError(f"{what}失败:{done.stderr.strip()[-2000:]}")


def _dump_sqlite(dest: Path) -> tuple[int, str]:
    connection.ensure_connection()
    target = sqlite3.connect(dest)
    try:
        connection.connection.backup(target)
    finally:
        target.close()
    copy = sqlite3.connect(dest)  # the head of exactly what was copied
    try:
        row = copy.execute("SELECT seq, hash FROM qms_ledgerentry ORDER BY seq DESC LIMIT 1").fetchone()
    finally:
        copy.close()
    return (row[0], row[1]) if row else (0, ledger.GENESIS_HASH)


def _dump_postgres(dest: Path) -> tuple[int, str]:
    env, args = _pg_env_and_args()
    with transaction.atomic(), connection.cursor() as c:
        c.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        c.execute("SELECT pg_export_snapshot()")
        snapshot = c.fetchone()[0]
        head = ledger.head()  # in the snapshot pg_dump reads
        _run(["pg_dump", "--format=custom", "--no-owner", "--no-privileges", f"--snapshot={snapshot}",
              "--file", str(dest), *args], env, "数据库导出(pg_dump)")
    return head


def backup(out: Path) -> dict[str, Any]:
    """Write a backup into ``out`` (a new or empty folder); returns the manifest."""
    if connection.in_atomic_block:
        raise BackupError("不能在事务中备份")
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise BackupError(f"备份目录不是空的:{out}")
    out.mkdir(parents=True, exist_ok=True)
    vendor = connection.vendor
    if vendor == "sqlite":
        db_name, head = SQLITE_FILE, _dump_sqlite(out / SQLITE_FILE)
    elif vendor == "postgresql":
        db_name, head = PG_FILE, _dump_postgres(out / PG_FILE)
    else:
        raise BackupError(f"不支持的数据库:{vendor}")
    files: dict[str, dict[str, Any]] = {}
    for rel in _stored_names(default_storage):
        dest = out / MEDIA_DIR / rel
        dest.parent.mkdir(parents=True, exist_ok=True)
        with default_storage.open(rel, "rb") as src, dest.open("wb") as copy:
            shutil.copyfileobj(src, copy, 1 << 20)
        files[f"{MEDIA_DIR}/{rel}"] = {"sha256": sha256_file(dest), "size": dest.stat().st_size}
    db_file = out / db_name
    files[db_name] = {"sha256": sha256_file(db_file), "size": db_file.stat().st_size}
    manifest = {
        "format": FORMAT,
        "created_at": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        "database": {"vendor": vendor, "file": db_name},
        "ledger_head": {"seq": head[0], "hash": head[1]},
        "files": dict(sorted(files.items())),
    }
    (out / MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
    return manifest


def check(folder: Path) -> dict[str, Any]:
    """Read the manifest and check every file against it; BackupError naming what differs."""
    folder = Path(folder)
    try:
        manifest = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise BackupError(f"备份目录中没有清单文件 {MANIFEST}") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BackupError("备份清单无法读取") from exc
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise BackupError("不是本系统的备份清单")
    listed = manifest.get("files") or {}
    present = {p.relative_to(folder).as_posix() for p in _files_under(folder)} - {MANIFEST}
    problems = []
    for name in sorted(set(listed) - present):
        problems.append(f"缺少文件:{name}")
    for name in sorted(present - set(listed)):
        problems.append(f"清单中没有的文件:{name}")
    for name in sorted(set(listed) & present):
        if sha256_file(folder / name) != listed[name].get("sha256"):
            problems.append(f"校验和不符:{name}")
    db_file = (manifest.get("database") or {}).get("file")
    if db_file not in listed:
        problems.append("清单中没有数据库文件")
    if problems:
        raise BackupError("备份与清单不符,拒绝恢复:\n" + "\n".join(problems[:50]))
    return manifest


def _restore_sqlite(src: Path) -> None:
    connection.ensure_connection()
    source = sqlite3.connect(src)
    try:
        source.backup(connection.connection)
    finally:
        source.close()


def _restore_postgres(src: Path) -> None:
    env, args = _pg_env_and_args()
    connection.close()
    _run(["pg_restore", "--clean", "--if-exists", "--no-owner", "--no-privileges", "--single-transaction",
          *args, str(src)], env, "数据库恢复(pg_restore)")


def restore(folder: Path) -> RestoreResult:
    """Restore a backup made by :func:`backup` (checked first), then verify the ledger."""
    if connection.in_atomic_block:
        raise BackupError("不能在事务中恢复")
    folder = Path(folder)
    manifest = check(folder)
    vendor = manifest["database"]["vendor"]
    if vendor != connection.vendor:
        raise BackupError(f"备份来自 {vendor} 数据库,当前数据库为 {connection.vendor},不能直接恢复")
    if vendor == "sqlite":
        _restore_sqlite(folder / manifest["database"]["file"])
    else:
        _restore_postgres(folder / manifest["database"]["file"])
    stamp = f"{dt.datetime.now(dt.UTC):%Y%m%d%H%M%S}"
    if _is_local(default_storage):
        aside = _restore_folder(folder / MEDIA_DIR, Path(settings.MEDIA_ROOT), stamp)
    else:
        wanted = {name[len(MEDIA_DIR) + 1:]: meta["sha256"] for name, meta in manifest["files"].items()
                  if name.startswith(f"{MEDIA_DIR}/")}
        aside = _restore_bucket(folder / MEDIA_DIR, wanted, stamp)
    result = ledger.verify()
    expected = (manifest["ledger_head"]["seq"], manifest["ledger_head"]["hash"])
    return RestoreResult(head=ledger.head(), expected=expected, verify=result, media_set_aside=aside)


def _restore_folder(src: Path, media_root: Path, stamp: str) -> Path | None:
    """The local folder: what was there renamed aside whole, the backup's files put in its place."""
    aside = None
    if media_root.exists() and any(media_root.iterdir()):
        aside = media_root.with_name(f"{media_root.name}.before-restore-{stamp}")
        media_root.rename(aside)
    media_root.mkdir(parents=True, exist_ok=True)
    if src.exists():
        shutil.copytree(src, media_root, dirs_exist_ok=True)
    return aside


def _restore_bucket(src: Path, wanted: dict[str, str], stamp: str) -> str | None:
    """The bucket: an object that is the backup's own (same name, same SHA-256) stays; any other is
    copied under ``before-restore-<stamp>/`` and removed; the backup's missing objects are written."""
    storage, prefix, moved = default_storage, f"before-restore-{stamp}/", False
    keep = set()
    for name in _stored_names(storage):
        if name.startswith("before-restore-"):
            continue  # what an earlier restore kept aside stays where it is
        if wanted.get(name) == _sha256_stored(storage, name):
            keep.add(name)
            continue
        with storage.open(name, "rb") as f:
            storage.save(prefix + name, f)
        storage.delete(name)
        moved = True
    for name in sorted(set(wanted) - keep):
        with (src / name).open("rb") as f:
            saved = storage.save(name, File(f, name=name))
        if saved != name:
            raise BackupError(f"对象存储中无法按原名写回文件:{name}(写成了 {saved})")
    return prefix if moved else None
