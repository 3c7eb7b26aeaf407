"""Server-side SVG charts (the page and the PDF show the same picture). Pure functions that
return an SVG string; labels are escaped; fonts are named, never fetched."""
from __future__ import annotations

from html import escape

FONT = "Noto Sans CJK SC, sans-serif"
GOOD, BAD, MID, TRACK = "#2e7d32", "#c62828", "#ef6c00", "#e6e6e6"


def bar_chart(rows: list[tuple[str, float | None]], *, title: str = "", target: float | None = None,
              width: int = 640, bar: int = 16) -> str:
    """Horizontal bars of shares (0–1), one per row; a target line if given; None → 无数据."""
    label_w, gap, top = 190, 6, 26 if title else 6
    plot = width - label_w - 70
    height = top + len(rows) * (bar + gap) + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(title)}" font-family="{FONT}" font-size="11">']
    if title:
        out.append(f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>')
    for i, (label, value) in enumerate(rows):
        y = top + i * (bar + gap)
        out.append(f'<text x="{label_w - 6}" y="{y + bar - 4}" text-anchor="end">{escape(label[:16])}</text>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{plot}" height="{bar}" fill="{TRACK}"/>')
        if value is None:
            out.append(f'<text x="{label_w + 4}" y="{y + bar - 4}" fill="#666">无数据</text>')
            continue
        colour = GOOD if target is None or value >= target else BAD
        out.append(f'<rect x="{label_w}" y="{y}" width="{plot * max(0.0, min(1.0, value)):.1f}" height="{bar}" fill="{colour}"/>')
        out.append(f'<text x="{label_w + plot + 6}" y="{y + bar - 4}">{value:.1%}</text>')
    if target is not None:
        x = label_w + plot * target
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{top - 4}" y2="{height - 4}" stroke="#000" stroke-width="1.5" '
                   f'stroke-dasharray="4 2"/><text x="{x + 3:.1f}" y="{top - 6 if top > 10 else height - 1}" font-size="9">目标 {target:.0%}</text>')
    out.append("</svg>")
    return "".join(out)


def count_chart(rows: list[tuple[str, int]], *, title: str = "", width: int = 640, bar: int = 16) -> str:
    """Horizontal bars of counts (e.g. nonconformities by state)."""
    label_w, gap, top = 120, 6, 26 if title else 6
    plot = width - label_w - 60
    biggest = max((n for _, n in rows), default=0) or 1
    height = top + len(rows) * (bar + gap) + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(title)}" font-family="{FONT}" font-size="11">']
    if title:
        out.append(f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>')
    for i, (label, n) in enumerate(rows):
        y = top + i * (bar + gap)
        out.append(f'<text x="{label_w - 6}" y="{y + bar - 4}" text-anchor="end">{escape(label)}</text>')
        out.append(f'<rect x="{label_w}" y="{y}" width="{plot * n / biggest:.1f}" height="{bar}" fill="{MID}"/>')
        out.append(f'<text x="{label_w + plot * n / biggest + 4:.1f}" y="{y + bar - 4}">{n}</text>')
    out.append("</svg>")
    return "".join(out)
