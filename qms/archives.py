"""压缩包检查 — an uploaded Office or ZIP file is refused if it could unpack to too much.

.docx, .xlsx, .pptx and the OpenDocument/WPS formats are ZIP archives. A 200 KB file can hold
one part of 200 MB of zeros (a "zip bomb"); stored as evidence and opened later by a reader,
or opened at once by openpyxl in the roster import, it would exhaust memory or disk. So
before a ZIP-based upload is accepted its directory is read and each part inflated in memory,
one chunk at a time and never to disk, with the limits from ``rules/limits.toml``
(``[archive]``, this product's defaults): the unpacked total, the number of parts, each large
part's compression ratio, and names that would escape a folder (``..`` or an absolute path).
A part that inflates to more than its directory declares is refused too, since other readers
trust the data rather than the directory.
"""
from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import PurePath, PurePosixPath, PureWindowsPath

from django.core.exceptions import ValidationError

from qms.limits import table

_CHUNK = 1 << 20
_BOMB = "文件解压后超过{mb}MB,可能是压缩炸弹,已拒绝"


def is_archive(name: str, data: bytes) -> bool:
    """ZIP-based by its extension (data) or by its first bytes, whatever it is called."""
    ext = PurePath((name or "").lower()).suffix
    return ext in table().archive["extensions"] or data[:4] == b"PK\x03\x04"


def _unsafe(name: str) -> bool:
    parts = PurePosixPath(name.replace("\\", "/")).parts
    return name.startswith(("/", "\\")) or bool(PureWindowsPath(name).drive) or ".." in parts


def _raw(data: bytes, info: zipfile.ZipInfo) -> memoryview:
    """A part's compressed bytes, found from its local header (no decompression)."""
    off = info.header_offset
    head = data[off:off + 30]
    if len(head) < 30 or head[:4] != b"PK\x03\x04":
        raise zipfile.BadZipFile("local header")
    n, m = struct.unpack("<HH", head[26:30])
    start = off + 30 + n + m
    raw = memoryview(data)[start:start + info.compress_size]
    if len(raw) != info.compress_size:
        raise zipfile.BadZipFile("truncated")
    return raw


def _inflated(raw: memoryview, method: int, cap: int) -> int:
    """How many bytes a part inflates to, counting in memory and stopping past ``cap``."""
    if method == zipfile.ZIP_STORED:
        return len(raw)
    d = zlib.decompressobj(-zlib.MAX_WBITS)
    total, buf = 0, bytes(raw)
    while buf and not d.eof:
        total += len(d.decompress(buf, _CHUNK))
        if total > cap:
            return total
        buf = d.unconsumed_tail
    return total + len(d.flush(_CHUNK))


#: what ``zipfile`` raises on a damaged or unusual archive (a version it does not read is
#: ``NotImplementedError``; found by fuzzing the upload check, bench/fuzz/)
ZIP_ERRORS = (zipfile.BadZipFile, NotImplementedError, OSError, ValueError, EOFError)


def check_archive(data: bytes) -> None:
    """Refuse a ZIP archive that is malformed, too large unpacked, too many parts, compressed
    beyond a plausible ratio, or names a path outside its folder. Raises ValidationError with
    a sentence for the user."""
    a = table().archive
    max_total = int(a["max_total_mb"]) * 1024 * 1024
    mb = int(a["max_total_mb"])
    try:
        zf = zipfile.ZipFile(io.BytesIO(data))
    except ZIP_ERRORS as exc:
        raise ValidationError("文件已损坏或不是有效的 Office 文件,已拒绝") from exc
    with zf:
        infos = zf.infolist()
        if len(infos) > int(a["max_entries"]):
            raise ValidationError(f"文件内含{len(infos)}个部件,超过{a['max_entries']}个,可能是压缩炸弹,已拒绝")
        if any(_unsafe(i.filename) for i in infos):
            raise ValidationError("文件内含指向文件夹以外的路径,已拒绝")
        if sum(i.file_size for i in infos) > max_total:
            raise ValidationError(_BOMB.format(mb=mb))
        grace = int(a["ratio_from_kb"]) * 1024
        ratio = int(a["max_ratio"])
        total = 0
        for i in infos:
            if i.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise ValidationError("文件使用了不支持的压缩方式,已拒绝")
            if i.file_size > grace and i.file_size > ratio * max(i.compress_size, 1):
                raise ValidationError(f"文件中有部件压缩了{i.file_size // max(i.compress_size, 1)}倍(上限{ratio}倍),可能是压缩炸弹,已拒绝")
            try:
                size = _inflated(_raw(data, i), i.compress_type, max(i.file_size, grace))
            except (zipfile.BadZipFile, zlib.error) as exc:
                raise ValidationError("文件已损坏或不是有效的 Office 文件,已拒绝") from exc
            if size != i.file_size:
                raise ValidationError("文件中有部件的实际大小与声明不符,可能是压缩炸弹,已拒绝")
            total += size
            if total > max_total:
                raise ValidationError(_BOMB.format(mb=mb))
