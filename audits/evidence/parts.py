"""Laying out a pack's parts — in this process, or shared out to forked worker processes — and
stamping each page with its number.

A part's pages are laid out without their page number (``_page.html`` leaves the footer out when
no ``first_page`` is given), so no part depends on how many pages the parts before it have: they
can be laid out in any order, at the same time. Once a part's pages are known, in order, each
gets its number from a *strip*: ``footers.html`` laid out with as many empty pages as the part
has, numbered from its first page — the same page box and footer the cover and the contents lay
out themselves, a few milliseconds a page. :class:`Stamped` paints the part's page and then its
strip, so the PDF page is the one a numbered layout would have painted.

With ``processes`` ≥ 2 the parts are laid out and painted (``painted.py``) by a pool of forked
workers, ``imap`` in order. A worker starts as a copy of the builder: the same font
configuration, and the same PDF font dictionary, already holding every typeface the pack's
styles use (``fonts.html`` is laid out and painted first, never printed). A worker sends back
its part's painted pages (bytes, bookmarks, anchors) and the glyphs they used, which the builder
adds to its own font dictionary, so the embedded subsets are the ones one process would make.
A part that the worker cannot send back that way — a page that needs its layout to be painted
(an image, a link) or a font the dictionary did not hold — comes back as ``None`` and is laid out
by the builder itself: a slower part, never a different PDF.

Processes are forked only where that is safe and useful: ``fork`` exists, this process may have
children (not a daemon) and runs a single thread (a lock held by another thread at the fork would
never be released in the child), and WeasyPrint's page stream is the one ``painted.py`` knows.
"""
from __future__ import annotations

import gc
import multiprocessing
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from itertools import islice

from audits.evidence import painted


class Stamped:
    """A part's page with its page-number strip painted over it, in ``write_pdf``'s stead of a
    ``weasyprint.Page``: the page's own painting (a laid-out page or a :class:`PaintedPage`)
    inside a saved graphics state, then the strip's."""

    def __init__(self, page, strip):
        self.width, self.height, self.bleed = page.width, page.height, page.bleed
        self.bookmarks, self.links, self.anchors, self.forms = page.bookmarks, page.links, page.anchors, page.forms
        self._page, self._strip = page, strip

    def paint(self, stream, scale=1):
        stream.push_state()
        self._page.paint(stream, scale)
        stream.pop_state()
        self._strip.paint(stream, scale)


@dataclass
class Layout:
    """What laid out a pack's parts: how many processes, how many parts, how many of them this
    process laid out itself (all of them with one process)."""

    processes: int = 1
    parts: int = 0
    parts_here: int = 0


def can_fork() -> bool:
    return (painted.SUPPORTED and painted.ENABLED and "fork" in multiprocessing.get_all_start_methods()
            and not multiprocessing.current_process().daemon and threading.active_count() == 1)


def prime(primer, pdf_fonts: dict) -> frozenset:
    """Paint ``primer`` (``fonts.html`` laid out) so that ``pdf_fonts`` holds every typeface the
    styles use, but none of the primer's glyphs: what was there before is put back. The keys of the
    fonts it added are returned, for :func:`used`."""
    before = {key: (dict(font.widths), dict(font.to_unicode)) for key, font in pdf_fonts.items()}
    painted.paint_early(primer, pdf_fonts)
    for key, font in pdf_fonts.items():
        widths, texts = before.get(key, ({}, {}))
        font.widths.clear()
        font.widths.update(widths)
        font.to_unicode.clear()
        font.to_unicode.update(texts)
    return frozenset(pdf_fonts) - frozenset(before)


def used(pdf_fonts: dict, primed: frozenset) -> dict:
    """The font dictionary to write: without the fonts only the primer used (no glyph of theirs
    was painted), which would otherwise be embedded whole."""
    return {key: font for key, font in pdf_fonts.items() if key not in primed or font.widths or font.to_unicode}


# ------------------------------------------------------------------------- worker processes

_WORKER: dict = {}  # set by the builder just before the fork; each worker reads its copy


def _fork_state(lay_out, pdf_fonts: dict) -> None:
    _WORKER.clear()
    _WORKER.update(lay_out=lay_out, fonts=pdf_fonts, known=frozenset(pdf_fonts),
                   missing={key: len(font.missing) for key, font in pdf_fonts.items()},
                   sent={key: (0, 0) for key in pdf_fonts})


def _work(html: str):
    """In a worker: lay out and paint one part; its pages and the glyphs they used since this
    worker's last part, or None when the builder must lay the part out itself."""
    fonts = _WORKER["fonts"]
    pages = _here(html, _WORKER["lay_out"], fonts)
    if (any(not isinstance(p, painted.PaintedPage) for p in pages) or set(fonts) != _WORKER["known"]
            or any(len(fonts[key].missing) != n for key, n in _WORKER["missing"].items())):
        return None
    glyphs = {}
    for key, font in fonts.items():
        widths, texts = _WORKER["sent"][key]
        glyphs[key] = (dict(islice(font.widths.items(), widths, None)), dict(islice(font.to_unicode.items(), texts, None)))
        _WORKER["sent"][key] = (len(font.widths), len(font.to_unicode))
    return pages, glyphs


def _add_glyphs(pdf_fonts: dict, glyphs: dict) -> None:
    for key, (widths, texts) in glyphs.items():
        font = pdf_fonts[key]
        for glyph, width in widths.items():
            font.widths.setdefault(glyph, width)
        for glyph, text in texts.items():
            font.to_unicode.setdefault(glyph, text)


# ------------------------------------------------------------------------------- the builder


def lay_out_parts(htmls: Sequence[str], lay_out, pdf_fonts: dict, processes: int, layout: Layout) -> Iterator[list]:
    """Each part's pages, in order, unnumbered: painted (``PaintedPage``) where they could be,
    laid out otherwise. ``lay_out(html)`` lays out one part in this process; with
    ``processes`` ≥ 2 (and :func:`can_fork`) the parts are laid out by that many workers."""
    layout.parts += len(htmls)
    if processes < 2 or len(htmls) < 2 or not can_fork():
        for html in htmls:
            layout.parts_here += 1
            yield _here(html, lay_out, pdf_fonts)
        return
    layout.processes = processes
    _fork_state(lay_out, pdf_fonts)
    try:
        with multiprocessing.get_context("fork").Pool(processes) as pool:
            for html, done in zip(htmls, pool.imap(_work, htmls, chunksize=1), strict=True):
                if done is None:
                    layout.parts_here += 1
                    yield _here(html, lay_out, pdf_fonts)
                else:
                    pages, glyphs = done
                    _add_glyphs(pdf_fonts, glyphs)
                    yield pages
    finally:
        _WORKER.clear()


def _here(html: str, lay_out, pdf_fonts: dict) -> list:
    pages = painted.paint_early(lay_out(html), pdf_fonts)
    gc.collect()  # the part's layout is garbage now (see builder._collect_per_part)
    return pages


def numbered(pages: list, strips, pdf_fonts: dict) -> list[Stamped]:
    """``pages`` with their page numbers: ``strips`` is ``footers.html`` laid out with one page
    for each of them, numbered from the first one's number."""
    strip_pages = painted.paint_early(strips, pdf_fonts)
    if len(strip_pages) != len(pages):  # cannot happen: one empty page per page; never misnumber
        raise RuntimeError("页码条页数与部分页数不一致")
    return [Stamped(page, strip) for page, strip in zip(pages, strip_pages, strict=True)]
