"""校验值 — the SHA-256 of a file, read in 1 MiB blocks (evidence packs, backups): of a local path,
or of a file opened from the storage (a local folder or an S3-compatible bucket)."""
from __future__ import annotations

import hashlib
from pathlib import Path


def sha256_file(path: Path) -> str:
    with Path(path).open("rb") as f:
        return sha256_stream(f)


def sha256_stream(f) -> str:
    """The SHA-256 of what is left to read in the open binary file ``f``."""
    h = hashlib.sha256()
    for block in iter(lambda: f.read(1 << 20), b""):
        h.update(block)
    return h.hexdigest()
