"""A plain SVG line chart (no plotting library): a few series against the interval.

The y axis runs from 0 to a round value at or above the largest one, with gridlines
and labels at round steps (in kWh once the values reach 10 kWh); the x axis is labelled
at round interval numbers; the legend sits above the plot, each series with its line
style (the second dashed, so two equal series both show).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

WIDTH, HEIGHT = 760, 340
LEFT, RIGHT, TOP, BOTTOM = 70, 740, 60, 290
"""The plot area's edges (SVG coordinates)."""
COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
DASHES = ("", "6 3", "2 2", "8 3 2 3")
KWH_FROM_WH = 10_000.0
"""Values this large or larger are labelled in kWh."""


def nice_step(span: float, ticks: int = 5) -> float:
    """A round step (1, 2 or 5 × 10^k) that cuts ``span`` into about ``ticks`` parts."""
    if span <= 0:
        return 1.0
    raw = span / ticks
    power = 10 ** math.floor(math.log10(raw))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= raw)


def axis_top(largest: float) -> float:
    """The y axis' top: the first round step at or above ``largest`` (1 for all zero)."""
    if largest <= 0:
        return 1.0
    step = nice_step(largest)
    return math.ceil(largest / step - 1e-9) * step


def y_of(value: float, top: float) -> float:
    """The SVG y coordinate of ``value`` on an axis from 0 to ``top``."""
    return BOTTOM - (value / top * (BOTTOM - TOP) if top > 0 else 0.0)


def x_of(index: int, count: int) -> float:
    """The SVG x coordinate of the ``index``-th of ``count`` points."""
    span = RIGHT - LEFT
    return LEFT + (index / (count - 1) * span if count > 1 else span / 2)


def _tick_text(value: float, step: float) -> str:
    """A tick's value with as many decimals as its step needs (``0.2`` steps: ``0.8``)."""
    decimals = max(0, -math.floor(math.log10(step) + 1e-9))
    return f"{value:,.{decimals}f}"


def line_chart(
    title: str,
    unit: str,
    series: Mapping[str, Sequence[float]],
    *,
    x_label: str = "interval",
) -> str:
    """An SVG document: one polyline per series (values in Wh when ``unit`` starts with
    "Wh"), the y axis from 0 to a round value above the largest one."""
    largest = max((max(values, default=0.0) for values in series.values()), default=0.0)
    top = axis_top(largest)
    in_kwh = unit.startswith("Wh") and top >= KWH_FROM_WH
    shown_unit = "k" + unit if in_kwh else unit
    scale = 1000.0 if in_kwh else 1.0
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        'font-family="sans-serif">',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>',
        f'<text x="{LEFT}" y="22" font-size="15">{escape(title)}</text>',
        f'<text x="14" y="{(TOP + BOTTOM) / 2}" font-size="11" text-anchor="middle" '
        f'transform="rotate(-90 14 {(TOP + BOTTOM) / 2})">{escape(shown_unit)}</text>',
    ]
    step = nice_step(top)
    for k in range(round(top / step) + 1):
        value = k * step
        y = y_of(value, top)
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{RIGHT}" y2="{y:.1f}" stroke="#dddddd"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" font-size="10" text-anchor="end">'
            f"{_tick_text(value / scale, step / scale)}</text>"
        )
    count = max((len(v) for v in series.values()), default=0)
    if count:
        x_step = max(1, int(nice_step(count - 1 if count > 1 else 1, 8)))
        for number in [1, *range(x_step, count + 1, x_step)]:
            if number == 1 and x_step <= 1:
                continue
            x = x_of(number - 1, count)
            parts.append(
                f'<line x1="{x:.1f}" y1="{BOTTOM}" x2="{x:.1f}" y2="{BOTTOM + 4}" stroke="black"/>'
            )
            parts.append(
                f'<text x="{x:.1f}" y="{BOTTOM + 16}" font-size="10" text-anchor="middle">'
                f"{number}</text>"
            )
    parts += [
        f'<line x1="{LEFT}" y1="{BOTTOM}" x2="{RIGHT}" y2="{BOTTOM}" stroke="black"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{BOTTOM}" stroke="black"/>',
        f'<text x="{(LEFT + RIGHT) / 2}" y="{HEIGHT - 12}" font-size="11" '
        f'text-anchor="middle">{escape(x_label)}</text>',
    ]
    if largest <= 0:
        parts.append(
            f'<text x="{(LEFT + RIGHT) / 2}" y="{(TOP + BOTTOM) / 2}" font-size="12" '
            'text-anchor="middle" fill="#555555">0 in every interval of every run</text>'
        )
    legend_x = float(LEFT)
    for k, (label, values) in enumerate(series.items()):
        colour, dash = COLOURS[k % len(COLOURS)], DASHES[k % len(DASHES)]
        dashed = f' stroke-dasharray="{dash}"' if dash else ""
        points = " ".join(
            f"{x_of(i, len(values)):.1f},{y_of(v, top):.1f}" for i, v in enumerate(values)
        )
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.6"{dashed} '
            f'points="{points}"><title>{escape(label)}</title></polyline>'
        )
        parts.append(
            f'<line x1="{legend_x}" y1="42" x2="{legend_x + 24}" y2="42" stroke="{colour}" '
            f'stroke-width="2"{dashed}/>'
        )
        parts.append(f'<text x="{legend_x + 30}" y="46" font-size="11">{escape(label)}</text>')
        legend_x += 40 + 6.5 * len(label)
    parts.append("</svg>")
    return "\n".join(parts) + "\n"
