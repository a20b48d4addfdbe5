"""Server-rendered SVG charts: no script, no library, no style attribute (the CSP
allows none); colours are SVG presentation attributes. Every chart is shown beside a
table with the same numbers, which is what screen readers read."""

from __future__ import annotations

from markupsafe import Markup
from markupsafe import escape

WIDTH, HEIGHT = 600, 220
_PAD_LEFT, _PAD_BOTTOM, _PAD_TOP = 40, 36, 12
BAR_FILL = "#2f6f8f"


def _ticks(top: int) -> list[int]:
    """Up to five round gridline values from 0 to at least ``top``."""
    if top <= 0:
        return [0]
    step = 1
    while top / step > 5:
        for factor in (2, 2.5, 2):
            step = int(step * factor)
            if top / step <= 5:
                break
    return list(range(0, top + step, step))


def bar_chart(data: list[tuple[str, int | float]], *, title: str) -> Markup:
    """A vertical bar chart of ``(label, value)`` pairs."""
    values = [max(0, v or 0) for _, v in data]
    ticks = _ticks(int(max(values, default=0) + 0.999))
    top = ticks[-1] or 1
    plot_w, plot_h = WIDTH - _PAD_LEFT - 8, HEIGHT - _PAD_BOTTOM - _PAD_TOP
    parts = [
        f'<svg class="chart" viewBox="0 0 {WIDTH} {HEIGHT}" width="100%" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for tick in ticks:
        y = _PAD_TOP + plot_h - plot_h * tick / top
        parts.append(
            f'<line x1="{_PAD_LEFT}" x2="{WIDTH - 8}" y1="{y:.1f}" y2="{y:.1f}" '
            f'stroke="#d0d7de" stroke-width="1"/>'
            f'<text x="{_PAD_LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" font-size="11" '
            f'fill="#57606a">{tick}</text>'
        )
    if data:
        slot = plot_w / len(data)
        bar_w = max(2.0, slot * 0.7)
        every = max(1, round(len(data) / 12))  # at most ~12 labels under the bars
        for i, ((label, _), value) in enumerate(zip(data, values, strict=True)):
            h = plot_h * value / top
            x = _PAD_LEFT + i * slot + (slot - bar_w) / 2
            y = _PAD_TOP + plot_h - h
            parts.append(
                f'<rect x="{x:.1f}" y="{y:.1f}" width="{bar_w:.1f}" height="{h:.1f}" '
                f'fill="{BAR_FILL}"><title>{escape(label)}: {value:g}</title></rect>'
            )
            if i % every == 0:
                parts.append(
                    f'<text x="{x + bar_w / 2:.1f}" y="{HEIGHT - _PAD_BOTTOM + 16}" '
                    f'text-anchor="middle" font-size="11" fill="#57606a">{escape(label)}</text>'
                )
    parts.append("</svg>")
    return Markup("".join(parts))  # noqa: S704 - every text above went through escape()
