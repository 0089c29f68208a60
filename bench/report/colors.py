"""Stable colours: a meter keeps its colour in every run, plot and report.

The colour comes from the meter id alone (its SHA-256 picks a hue), never from the order
meters arrive in, so ``roof`` is the same colour live, in the run browser and in the HTML.
"""

from __future__ import annotations

import colorsys
import hashlib

PALETTE = (
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#17becf",
    "#bcbd22",
    "#7f7f7f",
    "#393b79",
    "#e7ba52",
)
"""Twelve distinguishable colours; a meter id picks one by its hash."""


def meter_color(meter_id: str) -> str:
    """The meter's colour as ``#rrggbb`` (a palette colour; a shade of it on collisions
    is left to the caller: see :func:`meter_colors`)."""
    return PALETTE[_hash(meter_id) % len(PALETTE)]


def meter_colors(meter_ids: list[str] | tuple[str, ...]) -> dict[str, str]:
    """Colours for the meters of one view: each its :func:`meter_color`, except that a
    meter whose palette colour another meter (earlier in sorted order) already has gets a
    hue from its hash instead, so no two curves of a view share a colour."""
    taken: set[str] = set()
    out: dict[str, str] = {}
    for meter in sorted(meter_ids):
        color = meter_color(meter)
        if color in taken:
            color = alternate_color(meter)
        taken.add(color)
        out[meter] = color
    return out


def alternate_color(meter_id: str) -> str:
    """The meter's second colour (a hue from its hash), for when its palette colour is
    taken in a view."""
    hue = (_hash(meter_id) >> 16) % 360 / 360.0
    r, g, b = colorsys.hls_to_rgb(hue, 0.42, 0.7)
    return f"#{round(r * 255):02x}{round(g * 255):02x}{round(b * 255):02x}"


def _hash(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "big")
