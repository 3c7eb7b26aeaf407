"""满意度的图 — horizontal bars of shares (0–1) as an inline SVG, drawn the way the evidence pack's
charts are (labels escaped, fonts named, never fetched); narrow enough for a phone (it scales
down with the page: ``width: 100%`` up to its natural width)."""
from __future__ import annotations

from html import escape

FONT = "Noto Sans CJK SC, sans-serif"
GOOD, TRACK = "#2e7d32", "#e6e6e6"


def _lines(label: str, per_line: int = 9) -> list[str]:
    return [label[i:i + per_line] for i in range(0, len(label), per_line)] or [""]


def bars(rows: list[tuple[str, float | None]], *, title: str = "", width: int = 360) -> str:
    """One bar per row; None → 无数据. Labels wrap at nine characters."""
    label_w, bar, gap, line = 130, 14, 8, 13
    top = 24 if title else 4
    plot = width - label_w - 46
    heights = [max(bar, len(_lines(lbl)) * line) for lbl, _ in rows]
    height = top + sum(h + gap for h in heights) + 4
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" style="width:100%;max-width:{width}px" '
           f'role="img" aria-label="{escape(title)}" font-family="{FONT}" font-size="11">']
    if title:
        out.append(f'<text x="0" y="15" font-size="12" font-weight="bold">{escape(title)}</text>')
    y = top
    for (label, value), h in zip(rows, heights, strict=True):
        lines = _lines(label)
        first = y + (h - len(lines) * line) / 2 + line - 3
        for k, text in enumerate(lines):
            out.append(f'<text x="{label_w - 6}" y="{first + k * line:.1f}" text-anchor="end">{escape(text)}</text>')
        by = y + (h - bar) / 2
        out.append(f'<rect x="{label_w}" y="{by:.1f}" width="{plot}" height="{bar}" fill="{TRACK}"/>')
        if value is None:
            out.append(f'<text x="{label_w + 4}" y="{by + bar - 3:.1f}" fill="#666">无数据</text>')
        else:
            out.append(f'<rect x="{label_w}" y="{by:.1f}" width="{plot * max(0.0, min(1.0, value)):.1f}" height="{bar}" fill="{GOOD}"/>')
            out.append(f'<text x="{label_w + plot + 4}" y="{by + bar - 3:.1f}">{value:.0%}</text>')
        y += h + gap
    out.append("</svg>")
    return "".join(out)
