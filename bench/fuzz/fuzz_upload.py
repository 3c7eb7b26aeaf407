#!/usr/bin/env python
"""T19 · the upload check (``qms.uploads.check``): any bytes under any name, for either list
of kinds, by name or by content, is either accepted as a file that satisfies the check's
promises or refused with ``UploadRefused`` (a Chinese sentence) — never any other exception.

Input layout (so that seeds are plain files): byte 0 chooses the page (bit 0: evidence or
imports; bit 1: judged by name or by content alone); the name runs up to the first newline
(UTF-8, undecodable bytes replaced, as Django's upload parser does); the rest is the file.

    .venv/bin/python bench/fuzz/fuzz_upload.py bench/fuzz/corpus/upload -max_total_time=1200
"""
from __future__ import annotations

import hashlib
import sys

import _common

_common.setup()

import atheris  # noqa: E402

from qms import archives, uploads  # noqa: E402

_common.instrument(uploads, archives, _common, sys.modules[__name__])

_BAD_NAME = set('\x00/\\<>:"|?*') | {chr(c) for c in range(0x20)}


class Upload:
    """What Django hands a view: a name, a size, ``read`` and ``seek``."""

    def __init__(self, name: str, data: bytes):
        self.name, self._data, self.size, self._pos = name, data, len(data), 0

    def seek(self, pos: int) -> None:
        self._pos = pos

    def read(self, n: int = -1) -> bytes:
        out = self._data[self._pos:] if n < 0 else self._data[self._pos:self._pos + n]
        self._pos += len(out)
        return out


def split(data: bytes) -> tuple[int, str, bytes]:
    flags = data[0] if data else 0
    raw_name, _, body = data[1:].partition(b"\n")
    return flags, raw_name.decode("utf-8", "replace"), body


def TestOneInput(data: bytes) -> None:
    flags, name, body = split(data)
    kinds = "evidence" if flags & 1 == 0 else "imports"
    by_name = flags & 2 == 0
    try:
        c = uploads.check(Upload(name, body), kinds=kinds, by_name=by_name)
    except uploads.UploadRefused as exc:
        assert exc.messages and all(m.strip() for m in exc.messages), "a refusal without a sentence"
        return
    allowed = uploads.allowed(kinds)
    # the promises of an accepted file
    assert c.kind in allowed, (c.kind, allowed)
    assert c.ext in uploads.KINDS[c.kind].extensions, (c.ext, c.kind)
    assert c.data == body and c.sha256 == hashlib.sha256(body).hexdigest()
    assert c.name and len(c.name) <= uploads.NAME_COLUMN, c.name
    assert not (set(c.name) & _BAD_NAME), repr(c.name)
    assert not c.name.startswith("."), repr(c.name)
    assert uploads.sniff(body) == c.kind
    assert not uploads._MARKUP.search(body), "markup accepted"
    c.name.encode("utf-8")  # stored in a text column and sent in a header: must be encodable


if __name__ == "__main__":
    atheris.Setup(sys.argv, TestOneInput)
    atheris.Fuzz()
