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
workers, taken back in order. A worker starts as a copy of the builder: the same font
configuration, and the same PDF font dictionary, already holding every typeface the pack's
styles use (``fonts.html`` is laid out and painted first, never printed). A worker sends back
its part's painted pages (bytes, bookmarks, anchors) and the glyphs they used, which the builder
adds to its own font dictionary, so the embedded subsets are the ones one process would make.
A part that the worker cannot send back that way — a page that needs its layout to be painted
(an image, a link) or a font the dictionary did not hold — comes back as ``None`` and is laid out
by the builder itself: a slower part, never a different PDF. So are the parts left when a
worker dies (killed, out of memory: the pool is *broken*).

Processes are forked only where that is safe and useful: ``fork`` exists, this process runs a
single thread (a lock held by another thread at the fork would never be released in the child),
and WeasyPrint's page stream is the one ``painted.py`` knows. A Celery prefork worker's child —
where the web's packs are built — is a *daemon* process, which ``multiprocessing`` forbids to
have children, because a daemon is killed with its parent and would leave them orphaned. Here
the pool is shut down before :func:`lay_out_parts` returns, and each worker asks the kernel to be
killed when its parent dies (``PR_SET_PDEATHSIG``, Linux), so :func:`_children_allowed` lifts
that rule for the pool's creation only.
"""
from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import multiprocessing
import os
import signal
import sys
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures import TimeoutError as PartTimeout
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import islice

from audits.evidence import painted

log = logging.getLogger(__name__)


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
            and threading.active_count() == 1)


@contextlib.contextmanager
def _children_allowed():
    """Let this process start the pool's workers even if it is a daemon (a Celery worker's
    child): ``multiprocessing`` reads the flag when a process starts; it is put back after."""
    config = multiprocessing.current_process()._config  # noqa: SLF001 — the flag Process.start checks
    daemon = config.get("daemon")
    config["daemon"] = False
    try:
        yield
    finally:
        if daemon is None:
            config.pop("daemon", None)
        else:
            config["daemon"] = daemon


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
                   sent={key: (0, 0) for key in pdf_fonts}, parent=os.getpid())


_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>


def _start_worker() -> None:
    """In a worker, first: be killed with the builder (a Celery time limit that kills the
    builder's process must not leave its workers waiting for parts for ever)."""
    if sys.platform.startswith("linux"):
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != _WORKER["parent"]:  # the builder died before the request was made
        os._exit(1)


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
    pool = ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork"), initializer=_start_worker)
    broken = False
    try:
        with _children_allowed():  # a forking executor starts all its workers at the first submit
            futures = [pool.submit(_work, html) for html in htmls]
        wait = part_timeout()
        for html, future in zip(htmls, futures, strict=True):
            try:
                # a part done before the pool broke is still good; once it broke, none is waited for
                done = future.result(timeout=0 if broken else wait) if not broken or future.done() else None
            except BrokenProcessPool:  # a worker died (killed, out of memory): the parts not back are laid out here
                if not broken:
                    log.warning("证据包排版进程意外退出,未完成的部分由本进程排版", exc_info=True)
                broken, done = True, None
            except PartTimeout:  # a worker that never answers (stuck): the same — the builder lays out the rest
                if not broken:
                    log.warning("证据包排版进程 %s 秒未交回一个部分,未完成的部分由本进程排版", wait)
                broken, done = True, None
            if done is None:
                layout.parts_here += 1
                yield _here(html, lay_out, pdf_fonts)
            else:
                pages, glyphs = done
                _add_glyphs(pdf_fonts, glyphs)
                yield pages
    finally:
        if broken:  # a stuck worker would never let the pool shut down: end the workers first
            for process in list((getattr(pool, "_processes", None) or {}).values()):
                process.kill()
        pool.shutdown(wait=True, cancel_futures=True)
        _WORKER.clear()


def part_timeout() -> float:
    """How long the builder waits for one part from a worker before laying out the rest itself
    (``QMS_PACK_PART_TIMEOUT`` seconds; a part takes seconds, the longest chapter well under a minute)."""
    from django.conf import settings

    return float(getattr(settings, "QMS_PACK_PART_TIMEOUT", 300))


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
