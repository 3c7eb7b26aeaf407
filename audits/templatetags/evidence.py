"""Template filters of the evidence pack (认证证据包)."""
from __future__ import annotations

from django import template

register = template.Library()


@register.filter
def parts(rows, size: int) -> list:
    """``rows`` cut into consecutive slices of at most ``size``: a long table of the pack is
    written as one table per slice, separated by the builder's part marker, so each slice is
    laid out as a WeasyPrint document of its own (``audits.evidence.builder``). Always at
    least one slice, so a table with no rows still has its header."""
    rows = list(rows)
    size = max(1, int(size))
    return [rows[i:i + size] for i in range(0, len(rows), size)] or [[]]
