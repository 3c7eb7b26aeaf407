"""Pages painted as soon as their chapter is laid out, so a pack's memory does not grow with
its length.

WeasyPrint writes a PDF from a list of laid-out pages: every page keeps its whole box tree
(boxes, computed styles, Pango layouts — 1.5–2 MiB for one of our dense table pages) until
``write_pdf`` paints it. A pack is laid out chapter by chapter, but joined into one PDF, so all
its layouts would be alive at once and peak memory would be linear in pages.

``paint_early`` paints each page of a chapter into PDF operators right away — exactly what
``write_pdf`` would do later (``Page.paint`` on a fresh page stream, same fonts, same scale) — and
replaces it with a :class:`PaintedPage` that keeps only those bytes (tens of KiB) plus what
``write_pdf`` reads from a page besides painting it (size, bleed, bookmarks, anchors). When
``write_pdf`` paints a ``PaintedPage`` it appends the recorded bytes to the page stream. The
glyphs each page uses are registered in the pack's one font dictionary (``fonts``), which the
final document is given, so the embedded subsets are the same.

This leans on WeasyPrint's page stream (``weasyprint.pdf.stream.Stream``, WeasyPrint ≥ 66). A
page is only replaced when painting it needed nothing but text, lines, fills and plain opacity
states: a page with images, gradients, groups, links or form fields is kept laid out and painted
by ``write_pdf`` as usual. If the stream's interface is not the one this was written for,
nothing is replaced (``SUPPORTED`` is false) and the pack is built the ordinary way.
"""
from __future__ import annotations

import inspect

try:  # the page stream and the drawing entry point WeasyPrint's own PDF writer uses
    import pydyf
    from weasyprint.pdf.stream import Stream

    SUPPORTED = hasattr(pydyf, "_to_bytes") and list(inspect.signature(Stream.__init__).parameters)[:8] == [
        "self", "fonts", "page_rectangle", "resources", "images", "tags", "color_profiles", "output_intent"]
except ImportError:  # pragma: no cover - another WeasyPrint
    SUPPORTED = False

ENABLED = True  # tests switch it off to compare with the ordinary path
SCALE = 0.75  # write_pdf's scale at zoom 1: 72 PDF points per 96 CSS pixels


class PaintedPage:
    """Stands in for a ``weasyprint.Page`` in ``Document.copy(…).write_pdf()``."""

    def __init__(self, page, operators: bytes, states: dict):
        self.width, self.height, self.bleed = page.width, page.height, page.bleed
        self.bookmarks, self.links, self.anchors, self.forms = page.bookmarks, page.links, page.anchors, page.forms
        self._operators = operators
        self._states = states  # the opacity states (ExtGState) the operators name

    def paint(self, stream, scale=1):
        if scale != SCALE:  # painted for zoom 1 only
            raise ValueError("a pre-painted page can only be written at zoom 1")
        ext = stream._resources["ExtGState"]
        for key, value in self._states.items():
            ext.setdefault(key, value)
        stream.stream.append(self._operators)


def _new_resources() -> pydyf.Dictionary:
    return pydyf.Dictionary({"ExtGState": pydyf.Dictionary(), "XObject": pydyf.Dictionary(),
                             "Pattern": pydyf.Dictionary(), "Shading": pydyf.Dictionary(), "ColorSpace": None})


def _paint(page, document, fonts: dict):
    """``page`` as a PaintedPage, or ``page`` itself when it needs more than this can carry."""
    if page.links or any(page.forms.values()) or set(page.forms) != {None}:
        return page
    bleed = page.bleed
    rectangle = (-bleed["left"], -bleed["top"], page.width + bleed["left"] + bleed["right"],
                 page.height + bleed["top"] + bleed["bottom"])  # as write_pdf computes it, in CSS pixels
    resources, images = _new_resources(), {}
    stream = Stream(fonts, rectangle, resources, images, None, document.color_profiles, document.output_intent)
    stream.transform(d=-1, f=page.height * SCALE)  # write_pdf's first operator on every page: same matrix
    page.paint(stream, SCALE)
    states = dict(resources["ExtGState"])
    if (images or resources["XObject"] or resources["Pattern"] or resources["Shading"]
            or any(not key.startswith(("a", "A")) for key in states)):
        return page  # images, groups, gradients or blend states: keep the layout, write_pdf paints it
    return PaintedPage(page, b"\n".join(pydyf._to_bytes(item) for item in stream.stream[1:]), states)


def paint_early(document, fonts: dict) -> list:
    """The document's pages, painted (see the module docstring); ``fonts`` is the pack's font
    dictionary, given to the final document as ``document.fonts``."""
    if not (SUPPORTED and ENABLED):
        return list(document.pages)
    return [_paint(page, document, fonts) for page in document.pages]
