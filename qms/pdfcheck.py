"""版面检查 — every page of a PDF the product makes, checked by machine the way a reader looks at
it: nothing drawn over the margins or into the header and footer lines, no text leaving the
content box, no text printed over other text (a number spilling out of its table cell), no page
holding only a heading or next to nothing.

Two views of each page, both from poppler (Debian ``poppler-utils``):

- ``pdftoppm`` renders the page in grey at a low resolution; ink is any pixel darker than
  ``INK``. Ink left or right of the content box, or in the *gutters* just above and below it
  (between the content and the running header/footer lines), is a fault.
- ``pdftotext -bbox-layout`` gives every word with its box: a word that crosses the content
  box's edge, or that overlaps another word, is a fault; the lines' heights tell headings
  (at least ``HEADING_RATIO`` × the page's usual text height) from body text.

A page is *nearly empty* when its ink covers less than ``EMPTY_SHARE`` of the content box's
height; that is a fault unless it is the first or the last page, or the next page opens a chapter
(its first line is a heading). A page whose last line is a
heading has lost the heading from what follows it. The numbers are this product's choice.
"""
from __future__ import annotations

import re
import subprocess
import tempfile
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from pathlib import Path
from statistics import median

MM_PER_PT = 25.4 / 72
DPI = 50
INK = 160  # 0 black … 255 white
TOLERANCE_MM = 1.0  # anti-aliasing, a rule's half width
GUTTER_MM = 4.0  # between the content box and the running header/footer lines
EMPTY_SHARE = 0.12
HEADING_RATIO = 1.3
OVERLAP_SHARE = 0.25  # of the smaller word's area


@dataclass(frozen=True)
class Margins:
    """The page box's margins in mm (top, right, bottom, left), as the document's ``@page`` says."""

    top: float = 18
    right: float = 16
    bottom: float = 18
    left: float = 16

    @classmethod
    def parse(cls, text: str) -> Margins:
        try:
            parts = [float(x) for x in re.split(r"[,,\s]+", text.strip()) if x]
        except ValueError:
            parts = []
        if len(parts) == 1:
            parts *= 4
        elif len(parts) == 2:
            parts = [parts[0], parts[1], parts[0], parts[1]]
        elif len(parts) == 3:
            parts = [parts[0], parts[1], parts[2], parts[1]]
        if len(parts) != 4 or any(p < 0 for p in parts):
            raise ValueError("页边距应为 1–4 个非负数(毫米),如 “20,16,18”")
        return cls(*parts)


@dataclass(frozen=True)
class Fault:
    page: int
    kind: str
    detail: str

    def __str__(self) -> str:
        return f"第 {self.page} 页:{self.kind}({self.detail})"


@dataclass
class _Word:
    text: str
    x0: float
    y0: float
    x1: float
    y1: float  # mm from the top-left corner

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass
class _Page:
    number: int
    width: float
    height: float
    lines: list[list[_Word]]

    @property
    def words(self) -> list[_Word]:
        return [w for line in self.lines for w in line]


def _words(pdf: Path) -> list[_Page]:
    run = subprocess.run(["pdftotext", "-bbox-layout", str(pdf), "-"], capture_output=True, check=True, timeout=600)
    root = ET.fromstring(run.stdout)
    pages = []
    for n, page in enumerate(root.iter("{http://www.w3.org/1999/xhtml}page"), start=1):
        lines = []
        for line in page.iter("{http://www.w3.org/1999/xhtml}line"):
            words = [_Word(w.text or "", *(float(w.get(k)) * MM_PER_PT for k in ("xMin", "yMin", "xMax", "yMax")))
                     for w in line.iter("{http://www.w3.org/1999/xhtml}word")]
            if words:
                lines.append(words)
        pages.append(_Page(n, float(page.get("width")) * MM_PER_PT, float(page.get("height")) * MM_PER_PT, lines))
    return pages


def _ink_images(pdf: Path, workdir: Path):
    from PIL import Image

    subprocess.run(["pdftoppm", "-r", str(DPI), "-gray", str(pdf), str(workdir / "p")], check=True, timeout=1200,
                   capture_output=True)
    files = sorted(workdir.glob("p-*.pgm"), key=lambda p: int(p.stem.rsplit("-", 1)[1]))
    for f in files:
        with Image.open(f) as img:
            yield img.point(lambda v: 255 if v < INK else 0).convert("L")


def _px(mm: float) -> int:
    return max(0, round(mm / 25.4 * DPI))


def _ink_in(mask, box_mm: tuple[float, float, float, float]) -> bool:
    x0, y0, x1, y1 = (_px(v) for v in box_mm)
    x1, y1 = min(x1, mask.width), min(y1, mask.height)
    if x1 <= x0 or y1 <= y0:
        return False
    return mask.crop((x0, y0, x1, y1)).getbbox() is not None


def _overlap(a: _Word, b: _Word) -> float:
    w = min(a.x1, b.x1) - max(a.x0, b.x0)
    h = min(a.y1, b.y1) - max(a.y0, b.y0)
    if w <= 0 or h <= 0:
        return 0.0
    smaller = min((a.x1 - a.x0) * a.height, (b.x1 - b.x0) * b.height) or 1.0
    return w * h / smaller


def _first_line_is_heading(page: _Page, m: Margins, body: float) -> bool:
    """The page's topmost line inside the content box is a heading: a chapter or section opens."""
    lines = [ln for ln in page.lines if all(m.top - TOLERANCE_MM <= w.y0 and w.y1 <= page.height - m.bottom + TOLERANCE_MM
                                            for w in ln)]
    if not lines or not body:
        return False
    first = min(lines, key=lambda ln: min(w.y0 for w in ln))
    return max(w.height for w in first) >= HEADING_RATIO * body


def check_pdf(pdf: Path | str, margins: Margins | None = None) -> list[Fault]:
    """Every fault on every page (empty when the layout is clean)."""
    pdf, m = Path(pdf), margins or Margins()
    pages = _words(pdf)
    heights = [w.height for p in pages for w in p.words if w.text.strip()]
    body = median(heights) if heights else 0.0
    faults: list[Fault] = []
    t = TOLERANCE_MM
    with tempfile.TemporaryDirectory() as tmp:
        for page, mask in zip(pages, _ink_images(pdf, Path(tmp)), strict=True):
            n, pw, ph = page.number, page.width, page.height
            top, bottom, left, right = m.top, ph - m.bottom, m.left, pw - m.right
            # 1. ink over the side margins or in the gutters next to the header and footer lines
            if _ink_in(mask, (0, 0, left - t, ph)) or _ink_in(mask, (right + t, 0, pw, ph)):
                faults.append(Fault(n, "内容超出左右页边距", "页边留白处有笔迹"))
            if _ink_in(mask, (left, bottom + t, right, min(ph, bottom + GUTTER_MM))):
                faults.append(Fault(n, "内容压住页脚区域", "版心下边以外有笔迹"))
            if _ink_in(mask, (left, max(0.0, top - GUTTER_MM), right, top - t)):
                faults.append(Fault(n, "内容压住页眉区域", "版心上边以外有笔迹"))
            # 2. words leaving the content box, words printed over words
            inside = []
            for w in page.words:
                within_x = w.x0 >= left - t and w.x1 <= right + t
                within_y = w.y0 >= top - t and w.y1 <= bottom + t
                band = w.y1 <= top - GUTTER_MM + t or w.y0 >= bottom + GUTTER_MM - t  # the running header/footer
                if within_x and within_y:
                    inside.append(w)
                elif not (band and within_x):
                    faults.append(Fault(n, "文字超出版心", w.text[:20]))
            for i, a in enumerate(inside):
                for b in inside[i + 1:]:
                    if b.y0 > a.y1:
                        continue
                    if _overlap(a, b) > OVERLAP_SHARE:
                        faults.append(Fault(n, "文字重叠", f"“{a.text[:12]}”与“{b.text[:12]}”"))
            # 3. a page holding next to nothing, a heading cut off from what follows it
            content = mask.crop((_px(left), _px(top), _px(right), _px(bottom))).getbbox()
            used = 0.0 if content is None else (content[3] - content[1]) / max(1, _px(bottom) - _px(top))
            last = n == len(pages)
            nxt = pages[n] if not last else None
            opens_chapter = bool(nxt and _first_line_is_heading(nxt, m, body))
            if used < EMPTY_SHARE and n > 1 and not last and not opens_chapter:
                faults.append(Fault(n, "页面几乎空白", f"版心仅用 {used:.0%}"))
            body_lines = [ln for ln in page.lines if all(w in inside for w in ln)]
            if body and body_lines and not last:
                tail = max(body_lines, key=lambda ln: max(w.y1 for w in ln))
                if max(w.height for w in tail) >= HEADING_RATIO * body:
                    faults.append(Fault(n, "标题孤立在页尾", "".join(w.text for w in tail)[:20]))
    return faults
