"""上传文件检查与下载 — the one check every uploaded file passes, and the one way a stored file is
sent back.

Every page that accepts a file (a record's 附件, 整改证据, 自查证据, 培训证书, 上级批复, and the
sheets of the imports: 花名册, 组织架构, 任职记录, 历史会议, 审核发现, 签到表) calls ``check``:

* how many files one post carries (``take`` / ``take_all``: ``[upload] max_files`` of
  ``rules/limits.toml``; more is the 400 page, before anything is read or stored);
* size (``settings.QMS_MAX_UPLOAD_BYTES``) and emptiness;
* the type decided by the **content** (``sniff``: the first bytes, and for a ZIP its parts),
  never by the name or the browser's content type, against the allowed kinds of the page
  (``[upload] evidence`` / ``imports``); an evidence file's extension must also agree with it;
* SVG (an image that can carry script) and web pages are refused whatever they are called;
* polyglots: a file of an allowed kind that also carries a web page or script (``<script``,
  ``<html`` … anywhere in it), a ZIP archive appended to an image or PDF, data after a PNG's
  end, a PDF with JavaScript or a launch action; a ZIP that is not a valid .docx/.xlsx, or one
  with macros;
* Office files unpacked in memory against zip bombs (``qms.archives``);
* the name: only its last part (no ``../`` or absolute path), no control characters (NUL),
  no characters a file system refuses, at most ``[upload] name_max_chars`` characters with its
  extension kept, and no double extension that names another type (``x.php.jpg``,
  ``x.pdf.html``). The file is stored under its SHA-256 and the checked extension, never the
  user's name.

``serve`` sends a stored file back: always as an attachment, with ``nosniff`` and a sandboxing
Content-Security-Policy, in the content type of its checked kind — a file that slipped in before
these checks still cannot run in the product's origin.
"""
from __future__ import annotations

import hashlib
import io
import mimetypes
import re
import unicodedata
import zipfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePosixPath

from django.conf import settings
from django.core.exceptions import ValidationError
from django.http import FileResponse, Http404

from qms import archives
from qms.limits import table
from qms.params import BadParameter


@dataclass(frozen=True)
class Kind:
    label: str
    extensions: tuple[str, ...]
    mime: str


KINDS: dict[str, Kind] = {
    "pdf": Kind("PDF", (".pdf",), "application/pdf"),
    "png": Kind("PNG", (".png",), "image/png"),
    "jpeg": Kind("JPG", (".jpg", ".jpeg"), "image/jpeg"),
    "docx": Kind("DOCX", (".docx",), "application/vnd.openxmlformats-officedocument.wordprocessingml.document"),
    "xlsx": Kind("XLSX", (".xlsx",), "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
    "xls": Kind("XLS", (".xls", ".et"), "application/vnd.ms-excel"),
    "csv": Kind("CSV", (".csv", ".txt"), "text/csv"),
}
#: what other content is called when it is refused
OTHER = {"svg": "SVG 图片", "html": "网页", "exe": "可执行程序", "zip": "压缩包", "gif": "GIF 图片", "webp": "WebP 图片"}

#: markers of a web page or script anywhere in a file (a polyglot opened by a browser runs them)
_MARKUP = re.compile(rb"<\s*(?:script|html|!doctype\s+html|svg|iframe|body|object|embed)\b", re.IGNORECASE)
_PDF_ACTIONS = re.compile(rb"/(?:JavaScript|JS|Launch)\b")
#: the stored file names' database columns (文件名 max_length)
NAME_COLUMN = 120
_PNG_END = b"IEND\xaeB`\x82"
_OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"
#: characters no file name keeps: controls (NUL …), direction overrides, those file systems refuse
_NAME_DROP = re.compile(r"[\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069<>:\"|?*]")
#: an inner suffix that names a type (x.php.jpg, x.pdf.html) besides those mimetypes knows
_RISKY = {".php", ".phtml", ".php3", ".php4", ".php5", ".phar", ".asp", ".aspx", ".jsp", ".jspx", ".cgi", ".exe",
          ".bat", ".cmd", ".com", ".scr", ".msi", ".ps1", ".vbs", ".hta", ".jar", ".dll", ".svg", ".svgz",
          ".html", ".htm", ".xhtml", ".shtml", ".js", ".mjs", ".sh", ".py", ".pl", ".rb", ".docm", ".xlsm"}


class UploadRefused(ValidationError):
    """A file refused by ``check``; ``message`` is the sentence the user reads."""


def _refuse(message: str) -> UploadRefused:
    return UploadRefused({"upload": message})


def rules() -> dict:
    return table().upload


def allowed(kinds: str | Iterable[str]) -> tuple[str, ...]:
    """The kinds a page accepts: a list name of ``[upload]`` (``evidence``, ``imports``) or kinds."""
    return tuple(rules()[kinds]) if isinstance(kinds, str) else tuple(kinds)


# ------------------------------------------------------------------------------ content


def _text(data: bytes) -> str | None:
    head = data[:8192]
    if b"\x00" in head and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        return None
    for enc in ("utf-8-sig", "utf-16", "gb18030"):
        try:
            return head.decode(enc)
        except UnicodeDecodeError:
            continue
    return None


def _zip_kind(data: bytes) -> str:
    """docx, xlsx or zip (any other archive, or a damaged one)."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            names = set(z.namelist())
    except archives.ZIP_ERRORS:
        return "zip"
    if "[Content_Types].xml" not in names:
        return "zip"
    if "word/document.xml" in names:
        return "docx"
    if "xl/workbook.xml" in names:
        return "xlsx"
    return "zip"


def sniff(data: bytes) -> str | None:
    """The kind of a file from its content: a key of ``KINDS`` or ``OTHER``, or None."""
    if data.startswith(b"%PDF-"):
        return "pdf"
    if data.startswith(b"\x89PNG\r\n\x1a\n"):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data.startswith(b"PK\x03\x04"):
        return _zip_kind(data)
    if data.startswith(_OLE2):
        return "xls"
    if data.startswith((b"GIF87a", b"GIF89a")):
        return "gif"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data.startswith((b"MZ", b"\x7fELF", b"#!")):
        return "exe"
    text = _text(data)
    if text is None:
        return None
    head = text.lstrip("\ufeff \t\r\n").lower()
    if "<svg" in head[:4096] and (head.startswith("<svg") or head.startswith("<?xml") or head.startswith("<!doctype svg")):
        return "svg"
    if head.startswith("<") or _MARKUP.search(data[:8192]):
        return "html"
    return "csv"


def _polyglot(kind: str, data: bytes) -> str | None:
    """Why a file of an allowed kind is also something else, or None."""
    if _MARKUP.search(data):
        return "文件中夹带了网页或脚本代码"
    if kind in ("pdf", "png", "jpeg") and zipfile.is_zipfile(io.BytesIO(data)):
        return "文件末尾附带了压缩包"
    if kind == "png":
        end = data.find(_PNG_END)
        if end >= 0 and data[end + len(_PNG_END):].strip(b"\x00\r\n\t "):
            return "图片结束后还附带了其他内容"
    if kind == "pdf" and _PDF_ACTIONS.search(data):
        return "PDF 中含有脚本或启动程序的动作"
    return None


def _office(data: bytes) -> None:
    try:
        archives.check_archive(data)
    except ValidationError as exc:
        raise _refuse(";".join(exc.messages)) from exc
    with zipfile.ZipFile(io.BytesIO(data)) as z:
        names = [n.lower() for n in z.namelist()]
    if any(n.endswith("vbaproject.bin") for n in names):
        raise _refuse("文件中含有宏(可执行代码),请另存为不含宏的 .docx 或 .xlsx 后再上传")


# ------------------------------------------------------------------------------ names


def safe_name(raw: str | None, *, default: str = "文件") -> str:
    """A file name fit to show and to send back: its last part only, without control or
    reserved characters, at most ``[upload] name_max_chars`` characters, extension kept."""
    name = unicodedata.normalize("NFC", str(raw or ""))
    name = re.split(r"[\\/]", name)[-1]
    name = _NAME_DROP.sub("", name).strip().lstrip(".").strip()
    if not name:
        return default
    limit = min(int(rules().get("name_max_chars", NAME_COLUMN)), NAME_COLUMN)
    if len(name) > limit:
        suffix = PurePosixPath(name).suffix
        suffix = suffix if 1 < len(suffix) <= 10 else ""
        name = name[: limit - len(suffix)].rstrip(". ") + suffix
    return name


def _suffixes(name: str) -> list[str]:
    return [f".{p}" for p in name.lower().split(".")[1:]]


def _double_extension(name: str) -> bool:
    inner = _suffixes(name)[:-1]
    return any(s in _RISKY or s in mimetypes.types_map for s in inner)


# ------------------------------------------------------------------------------ the check


@dataclass(frozen=True)
class Checked:
    """An upload that passed ``check``: safe name, checked extension and kind, the bytes, SHA-256."""

    name: str
    ext: str
    kind: str
    data: bytes
    sha256: str

    @property
    def content_type(self) -> str:
        return KINDS[self.kind].mime

    def stored_name(self) -> str:
        return f"{self.sha256}{self.ext}"


def _labels(kinds: tuple[str, ...]) -> str:
    return "、".join(KINDS[k].label for k in kinds)


def check(upload, *, kinds: str | Iterable[str] = "evidence", by_name: bool = True) -> Checked:
    """The one check of an uploaded file (see the module). ``kinds``: what the page accepts;
    ``by_name``: the name's extension must agree with the content (evidence kept and sent back);
    imports, read and never served, are judged by content alone. Raises ``UploadRefused``."""
    if isinstance(upload, Checked):
        return upload
    kinds = allowed(kinds)
    name = safe_name(getattr(upload, "name", ""))
    ext = PurePosixPath(name.lower()).suffix
    limit = settings.QMS_MAX_UPLOAD_BYTES
    size = getattr(upload, "size", None)
    if size is not None and size > limit:
        raise _refuse(f"文件过大({size / 1048576:.1f} MB),上限为 {limit / 1048576:.0f} MB")
    if hasattr(upload, "seek"):
        upload.seek(0)
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise _refuse(f"文件过大,上限为 {limit / 1048576:.0f} MB")
    if not data.strip():
        raise _refuse("文件是空的")
    if _double_extension(name):
        raise _refuse(f"文件名含有两个扩展名:{name},请改名后再上传")
    if data.startswith(b"PK\x03\x04"):  # an archive is unpacked in memory first (zip bombs, macros)
        _office(data)
    kind = sniff(data)
    if kind == "svg":
        raise _refuse("不接受 SVG 图片(其中可以夹带脚本),请转为 PNG 或 JPG 后再上传")
    if by_name:
        exts = {e for k in kinds for e in KINDS[k].extensions}
        if ext not in exts:
            raise _refuse(f"不允许的文件类型:{name}(只接受 {_labels(kinds)})")
        if kind not in kinds or ext not in KINDS[kind].extensions:
            what = KINDS[kind].label if kind in KINDS else OTHER.get(kind or "", "无法识别的内容")
            raise _refuse(f"文件内容与扩展名不符:{name}(内容是{what})")
    elif kind not in kinds:
        what = KINDS[kind].label if kind in KINDS else OTHER.get(kind or "", "无法识别的内容")
        raise _refuse(f"不支持的文件:内容是{what},只接受 {_labels(kinds)}")
    if (why := _polyglot(kind, data)) is not None:
        raise _refuse(f"{why},已拒绝:{name}")
    if not by_name:
        ext = KINDS[kind].extensions[0]
    return Checked(name, ext, kind, data, hashlib.sha256(data).hexdigest())


def read_upload(upload) -> tuple[str, str, bytes, str]:
    """An evidence upload checked (``check``): (safe name, extension, bytes, SHA-256)."""
    c = check(upload)
    return c.name, c.ext, c.data, c.sha256


# ------------------------------------------------------------------------------ the request


def _count(request) -> None:
    n = sum(len(v) for _k, v in request.FILES.lists())
    most = int(rules().get("max_files", 10))
    if n > most:
        raise BadParameter(f"一次最多上传{most}个文件,本次选择了{n}个;未保存任何文件,请分次上传")


def _checked(upload, kinds, by_name: bool):
    if kinds is None:
        return upload
    try:
        return check(upload, kinds=kinds, by_name=by_name)
    except UploadRefused as exc:
        raise BadParameter(f"{';'.join(exc.messages)};未保存任何文件") from exc


def take(request, field: str, *, kinds: str | Iterable[str] | None = None, by_name: bool = True):
    """The one file posted as ``field`` (None when absent). Too many files in the post, or with
    ``kinds`` a file ``check`` refuses: the 400 page with the reason, before anything is stored.
    With ``kinds`` the file comes back ``Checked`` (services accept it as an upload)."""
    _count(request)
    upload = request.FILES.get(field)
    return None if upload is None else _checked(upload, kinds, by_name)


def take_all(request, field: str, *, kinds: str | Iterable[str] | None = None, by_name: bool = True) -> list:
    """Every file posted as ``field``, each as ``take`` answers for one: all pass or none is kept."""
    _count(request)
    return [_checked(u, kinds, by_name) for u in request.FILES.getlist(field)]


def files(request, *, kinds: str | Iterable[str] = "evidence"):
    """``request.FILES`` for a form, after the count and every file's check (400 on a refusal)."""
    _count(request)
    for _field, ups in request.FILES.lists():
        for u in ups:
            _checked(u, kinds, True)
            u.seek(0)
    return request.FILES


#: the content type a stored file is sent back with, by its checked extension; anything else
#: (a table, a name from before these checks) goes as application/octet-stream
SERVED_TYPES = {**{e: k.mime for k in KINDS.values() if k.mime != "text/csv" for e in k.extensions},
                ".zip": "application/zip"}


def serve(field_file, *, name: str) -> FileResponse:
    """A stored file as a download: attachment, ``nosniff``, a sandboxing CSP, and the content
    type of the kind its extension was checked as. A file missing from the disk is a 404."""
    ext = PurePosixPath(str(field_file.name).lower()).suffix
    try:  # a local folder or a private S3-compatible bucket (settings.STORAGES): streamed by this view
        if not field_file.name or not field_file.storage.exists(field_file.name):
            raise FileNotFoundError(field_file.name)
        handle = field_file.open("rb")
    except (FileNotFoundError, ValueError) as exc:
        raise Http404("文件不存在或已被移走") from exc
    resp = FileResponse(handle, as_attachment=True, filename=safe_name(name),
                        content_type=SERVED_TYPES.get(ext, "application/octet-stream"))
    return secure(resp)


def secure(resp):
    """The headers every stored file sent back carries: never sniffed as another type, and
    sandboxed (no script, no same-origin access) should a browser render it anyway."""
    resp["X-Content-Type-Options"] = "nosniff"
    resp["Content-Security-Policy"] = "sandbox; default-src 'none'"
    return resp
