"""Writes the starting files of ``corpus/upload`` (one small file of each kind, and a few
hostile ones) in the harness's layout: a flags byte, the name, a newline, the content."""
from __future__ import annotations

import io
import zipfile
from pathlib import Path

HERE = Path(__file__).resolve().parent


def office(part: str, extra: dict[str, bytes] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("[Content_Types].xml", "<Types/>")
        z.writestr(part, "<x/>")
        for name, data in (extra or {}).items():
            z.writestr(name, data)
    return buf.getvalue()


PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x02\x00\x00\x00\x90wS\xde\x00\x00\x00\x00IEND\xaeB`\x82"
SEEDS = {
    "pdf": (0, "报告.pdf", b"%PDF-1.4\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"),
    "pdf_js": (0, "a.pdf", b"%PDF-1.4\n<< /S /JavaScript /JS (app.alert(1)) >>\n%%EOF"),
    "png": (0, "图.png", PNG),
    "png_tail": (0, "x.png", PNG + b"<script>alert(1)</script>"),
    "jpeg": (0, "照片.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00\xff\xd9"),
    "docx": (0, "纪要.docx", office("word/document.xml")),
    "docm": (0, "宏.docx", office("word/document.xml", {"word/vbaProject.bin": b"\x00" * 16})),
    "xlsx": (1, "花名册.xlsx", office("xl/workbook.xml")),
    "xls": (1, "旧表.xls", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 32),
    "csv": (3, "名单.csv", "姓名,手机号\n张三,13800000000\n".encode()),
    "csv_gb": (3, "名单.txt", "姓名,部门\n李四,党办\n".encode("gb18030")),
    "svg": (0, "x.png", b'<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>1</script></svg>'),
    "double": (0, "x.php.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),
    "path": (2, "../../etc/passwd.csv", b"a,b\n"),
}

if __name__ == "__main__":
    out = HERE / "corpus" / "upload"
    out.mkdir(parents=True, exist_ok=True)
    for key, (flags, name, data) in SEEDS.items():
        (out / f"seed_{key}").write_bytes(bytes([flags]) + name.encode() + b"\n" + data)
