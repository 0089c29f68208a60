"""A plain SVG line chart (no plotting library): a few series against the interval."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT, MARGIN = 720, 320, 50
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")


def y_of(value: float, top: float) -> float:
    """The SVG y coordinate of ``value`` on an axis from 0 to ``top``."""
    span = HEIGHT - 2 * MARGIN
    return HEIGHT - MARGIN - (value / top * span if top > 0 else 0.0)


def x_of(index: int, count: int) -> float:
    """The SVG x coordinate of the ``index``-th of ``count`` points."""
    span = WIDTH - 2 * MARGIN
    return MARGIN + (index / (count - 1) * span if count > 1 else span / 2)


def line_chart(title: str, unit: str, series: Mapping[str, Sequence[float]]) -> str:
    """An SVG document: one polyline per series, the y axis from 0 to the largest value."""
    top = max((max(values, default=0.0) for values in series.values()), default=0.0)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}">',
        f'<text x="{MARGIN}" y="20" font-size="14">{escape(title)} ({escape(unit)})</text>',
        f'<line x1="{MARGIN}" y1="{HEIGHT - MARGIN}" x2="{WIDTH - MARGIN}" '
        f'y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<line x1="{MARGIN}" y1="{MARGIN}" x2="{MARGIN}" y2="{HEIGHT - MARGIN}" stroke="black"/>',
        f'<text x="4" y="{MARGIN + 4}" font-size="10">{top:,.0f}</text>',
        f'<text x="4" y="{HEIGHT - MARGIN + 4}" font-size="10">0</text>',
        f'<text x="{WIDTH - MARGIN - 40}" y="{HEIGHT - 15}" font-size="10">interval</text>',
    ]
    for k, (label, values) in enumerate(series.items()):
        colour = COLOURS[k % len(COLOURS)]
        points = " ".join(
            f"{x_of(i, len(values)):.1f},{y_of(v, top):.1f}" for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" points="{points}">'
            f"<title>{escape(label)}</title></polyline>"
        )
        parts.append(
            f'<text x="{WIDTH - MARGIN - 150}" y="{MARGIN + 14 * k}" font-size="11" '
            f'fill="{colour}">{escape(label)}</text>'
        )
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
