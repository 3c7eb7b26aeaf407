"""Server-side SVG charts (the page and the PDF show the same picture). Pure functions that
return an SVG string; labels are escaped; fonts are named, never fetched."""
from __future__ import annotations

from html import escape

FONT = "Noto Sans CJK SC, sans-serif"
GOOD, BAD, MID, TRACK = "#2e7d32", "#c62828", "#ef6c00", "#e6e6e6"


#: The tallest picture, in px at 96 dpi (≈ 217 mm): each fits one page of the pack (259 mm of
#: content) with room for a heading above it; a chart with more rows is drawn as several, the
#: later ones titled "(续)".
MAX_CHART_PX = 820
LINE = 13  # px between label lines at 11 px
LABEL_W = 220


def _text_width(text: str, size: float = 11) -> float:
    """Approximate advance width in px: a CJK character is one em, other characters about half."""
    return sum(size if ord(ch) > 0x2E7F else size * 0.56 for ch in text)


def wrap_label(label: str, width: float, *, size: float = 11) -> list[str]:
    """The label broken into lines no wider than ``width`` px, never cut; a name too long for one
    line breaks before its code in brackets ("…委员会" / "(HX)") where that fits."""
    if _text_width(label, size) > width and "(" in label:
        name, code = label.split("(", 1)
        if name and _text_width("(" + code, size) <= width:
            return [*wrap_label(name, width, size=size), "(" + code]
    lines, cur = [], ""
    for ch in label:
        if cur and _text_width(cur + ch, size) > width:
            lines.append(cur)
            cur = ""
        cur += ch
    return [*lines, cur] if cur else lines or [""]


def bar_chart(rows: list[tuple[str, float | None]], *, title: str = "", target: float | None = None,
              width: int = 640, bar: int = 16, max_height: int = MAX_CHART_PX) -> list[str]:
    """Horizontal bars of shares (0–1), one per row, labels wrapped; a target line if given;
    None → 无数据. As many pictures as it takes to keep each under ``max_height`` px."""
    gap, top = 6, 26 if title else 6
    labels = [wrap_label(label, LABEL_W - 10) for label, _ in rows]
    heights = [max(bar, len(lines) * LINE + 3) for lines in labels]
    chunks: list[list[int]] = [[]]
    used = top + 8
    for i, h in enumerate(heights):
        if chunks[-1] and used + h + gap > max_height:
            chunks.append([])
            used = top + 8
        chunks[-1].append(i)
        used += h + gap
    return [_bars([rows[i] for i in idx], [labels[i] for i in idx], [heights[i] for i in idx],
                  title=title if n == 0 else f"{title}(续)" if title else "", target=target, width=width, bar=bar)
            for n, idx in enumerate(chunks)]


def _bars(rows, labels, heights, *, title: str, target: float | None, width: int, bar: int) -> str:
    label_w, gap, top = LABEL_W, 6, 26 if title else 6
    plot = width - label_w - 70
    height = top + sum(h + gap for h in heights) + 8
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
           f'role="img" aria-label="{escape(title)}" font-family="{FONT}" font-size="11">']
    if title:
        out.append(f'<text x="0" y="16" font-size="13" font-weight="bold">{escape(title)}</text>')
    y = top
    for (_label, value), lines, h in zip(rows, labels, heights, strict=True):
        by = y + (h - bar) / 2
        first = y + (h - len(lines) * LINE) / 2 + LINE - 3
        for k, line in enumerate(lines):
            out.append(f'<text x="{label_w - 6}" y="{first + k * LINE:.1f}" text-anchor="end">{escape(line)}</text>')
        out.append(f'<rect x="{label_w}" y="{by:.1f}" width="{plot}" height="{bar}" fill="{TRACK}"/>')
        if value is None:
            out.append(f'<text x="{label_w + 4}" y="{by + bar - 4:.1f}" fill="#666">无数据</text>')
        else:
            colour = GOOD if target is None or value >= target else BAD
            out.append(f'<rect x="{label_w}" y="{by:.1f}" width="{plot * max(0.0, min(1.0, value)):.1f}" height="{bar}" fill="{colour}"/>')
            out.append(f'<text x="{label_w + plot + 6}" y="{by + bar - 4:.1f}">{value:.1%}</text>')
        y += h + gap
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
