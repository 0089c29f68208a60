"""The report's plots, drawn with matplotlib's object API (no pyplot, no GUI backend).

Power per meter, the demand and supply curves of the busiest interval with the clearing
point labelled beside it and every interval's curves in small multiples (48 a figure),
prices with the battery's state of charge, the energy balance
with the run's CUSUM, the audit's findings per interval and check, and each
participant's energy and money. Legends sit outside the axes, so they never cover data.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from bench.report.colors import meter_colors
from bench.report.replay import CHECKS, check_of
from bench.report.run_data import RunData
from bench.store import RecordedInterval
from pricing import demand_curve, supply_curve
from pricing.units import WEI_PER_LABC, WH_PER_KWH, to_labc_per_kwh

WIDTH_IN, HEIGHT_IN = 10.0, 4.2
Curve = tuple[np.ndarray, np.ndarray]
"""A step curve: its edges (Wh) and levels (wei/Wh)."""


@dataclass(frozen=True)
class Plot:
    """One figure of the report: ``name`` is its id, ``caption`` says what it shows."""

    name: str
    title: str
    caption: str
    figure: Figure

    def svg(self) -> str:
        """The figure as an SVG document (text, for inlining in HTML)."""
        out = io.StringIO()
        self.figure.savefig(out, format="svg")
        text = out.getvalue()
        return text[text.index("<svg") :]

    def png(self, dpi: int = 110) -> bytes:
        """The figure as PNG bytes."""
        out = io.BytesIO()
        self.figure.savefig(out, format="png", dpi=dpi)
        return out.getvalue()


def _per_kwh(price_wei_per_wh: np.ndarray) -> np.ndarray:
    """Prices in wei/Wh as LABC/kWh, for plotting."""
    return price_wei_per_wh * (WH_PER_KWH / WEI_PER_LABC)


def _figure(rows: int = 1, height_in: float = HEIGHT_IN) -> tuple[Figure, list[Axes]]:
    fig = Figure(figsize=(WIDTH_IN, height_in), layout="constrained")
    axes = fig.subplots(rows, 1, squeeze=False)[:, 0]
    for ax in axes:
        ax.grid(alpha=0.3)
    return fig, list(axes)


def _empty(ax: Axes, text: str) -> None:
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes, color="#555555")


def power_plot(data: RunData) -> Plot:
    """Each meter's power against simulated time (import +, export −)."""
    fig, (ax,) = _figure()
    colors = meter_colors(list(data.power))
    for meter in sorted(data.power):
        times, powers = data.power[meter]
        owner = data.meter_participant.get(meter)
        label = f"{meter} ({owner})" if owner and owner != meter else meter
        ax.plot(
            np.asarray(times) / 3600.0,
            np.asarray(powers) / 1000.0,
            color=colors[meter],
            lw=1.4,
            label=label,
        )
    ax.axhline(0.0, color="#444444", lw=0.8)
    ax.set_xlabel("simulated time (h)")
    ax.set_ylabel("power (kW)")
    if data.power:
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    else:
        _empty(ax, "no meter readings in the journal")
    return Plot("power", "Meter power", "Every reading of every meter; import +, export −.", fig)


def busiest_interval(data: RunData) -> int | None:
    """The interval with the largest cleared volume (the last of equals), None if none."""
    best = None
    for kept in data.intervals:
        if best is None or kept.volume_wh >= best.volume_wh:
            best = kept
    return None if best is None else best.interval_id


def curves_plot(data: RunData) -> Plot:
    """The busiest interval's demand and supply step curves and where they clear."""
    fig, (ax,) = _figure()
    chosen = busiest_interval(data)
    kept = next((k for k in data.intervals if k.interval_id == chosen), None)
    if kept is None:
        _empty(ax, "no interval recorded")
        return Plot("curves", "Demand and supply", "No interval was recorded.", fig)
    for (edges, levels), color, label in (
        (demand_curve(kept.orders), "#1f77b4", "demand (bids)"),
        (supply_curve(kept.orders), "#ff7f0e", "supply (offers)"),
    ):
        if len(levels):
            levels_kwh = _per_kwh(np.asarray(levels, dtype=float))
            ax.stairs(levels_kwh, np.asarray(edges, dtype=float), color=color, lw=2, label=label)
    ax.set_xlabel("energy (Wh)")
    ax.set_ylabel("price (LABC/kWh)")
    price = kept.price_wei_per_wh
    if price is not None and kept.volume_wh > 0:
        x, y = float(kept.volume_wh), to_labc_per_kwh(float(price))
        ax.plot([x], [y], "o", color="#d62728", ms=9, zorder=5, label="clearing point")
        ax.margins(x=0.08, y=0.15)
        left, right = ax.get_xlim()
        bottom, top = ax.get_ylim()
        dx = -12 if x > (left + right) / 2 else 12  # label towards the middle: never clipped
        dy = -16 if y > (bottom + top) / 2 else 16
        ax.annotate(
            f"{kept.volume_wh} Wh @ {y:.3f} LABC/kWh",
            (x, y),
            xytext=(dx, dy),
            textcoords="offset points",
            ha="right" if dx < 0 else "left",
            va="top" if dy < 0 else "bottom",
            color="#d62728",
            fontsize=9,
            bbox={"boxstyle": "round,pad=0.2", "fc": "white", "ec": "#d62728", "alpha": 0.9},
        )
    else:
        _empty(ax, "the curves do not cross: nothing cleared")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    return Plot(
        "curves",
        f"Demand and supply — interval {kept.interval_id}",
        f"The order book of interval {kept.interval_id} (the largest cleared volume) and "
        "its clearing point.",
        fig,
    )


GRID_COLUMNS, GRID_ROWS = 8, 6
"""Small multiples per figure: 48 intervals (half a day of 15-minute intervals)."""


def curves_grids(data: RunData) -> list[Plot]:
    """Every interval's demand and supply curves and clearing point, on shared axes so
    intervals compare at a glance; one figure per 48 intervals."""
    per_figure = GRID_COLUMNS * GRID_ROWS
    kept = list(data.intervals)
    chunks = [kept[k : k + per_figure] for k in range(0, len(kept), per_figure)]
    books = {k.interval_id: (demand_curve(k.orders), supply_curve(k.orders)) for k in kept}
    top = max(
        [float(np.max(levels)) for pair in books.values() for _, levels in pair if len(levels)]
        or [0.0]
    )
    right = max(
        [float(edges[-1]) for pair in books.values() for edges, _ in pair if len(edges)] or [1.0]
    )
    plots = []
    for chunk in chunks:
        rows = -(-len(chunk) // GRID_COLUMNS)
        fig = Figure(figsize=(WIDTH_IN, 1.25 * rows + 0.6), layout="constrained")
        axes = fig.subplots(rows, GRID_COLUMNS, sharex=True, sharey=True, squeeze=False)
        for ax in axes.flat[len(chunk) :]:
            ax.set_visible(False)
        for n, (ax, interval) in enumerate(zip(axes.flat, chunk, strict=False)):
            _small_curves(ax, interval, books[interval.interval_id])
            if n + GRID_COLUMNS >= len(chunk):  # nothing below it: its own energy axis
                ax.tick_params(labelbottom=True)
        axes[0, 0].set_xlim(0.0, right * 1.05)
        axes[0, 0].set_ylim(0.0, to_labc_per_kwh(top) * 1.1 if top > 0 else 1.0)
        fig.supxlabel("energy (Wh)", fontsize=8)
        fig.supylabel("price (LABC/kWh)", fontsize=8)
        first, last = chunk[0].interval_id, chunk[-1].interval_id
        plots.append(
            Plot(
                f"curves-{first}-{last}",
                f"Demand and supply — intervals {first} to {last}",
                "Each interval's bids (blue) and offers (orange) on the same axes, and where "
                "they cleared (red dot; none where nothing cleared).",
                fig,
            )
        )
    return plots


def _small_curves(ax: Axes, kept: RecordedInterval, book: tuple[Curve, Curve]) -> None:
    for (edges, levels), color in zip(book, ("#1f77b4", "#ff7f0e"), strict=True):
        if len(levels):
            levels_kwh = _per_kwh(np.asarray(levels, dtype=float))
            ax.stairs(levels_kwh, np.asarray(edges, dtype=float), color=color, lw=1)
    if kept.price_wei_per_wh is not None and kept.volume_wh > 0:
        y = to_labc_per_kwh(float(kept.price_wei_per_wh))
        ax.plot([kept.volume_wh], [y], "o", color="#d62728", ms=3.5, zorder=5)
    ax.set_title(str(kept.interval_id), fontsize=7, pad=2)
    ax.tick_params(labelsize=6, length=2)
    ax.xaxis.set_major_locator(MaxNLocator(nbins=2))  # a few ticks: labels never overlap
    ax.yaxis.set_major_locator(MaxNLocator(nbins=3))
    ax.grid(alpha=0.3)


def prices_plot(data: RunData) -> Plot:
    """Cleared and instantaneous price per interval; the battery's SoC on the right."""
    fig, (ax,) = _figure()
    rows = data.report.rows
    x = np.asarray([r.interval_id for r in rows], dtype=float)
    cleared = [np.nan if r.price_wei_per_wh is None else r.price_wei_per_wh for r in rows]
    total = [
        np.nan if r.instantaneous_price_wei_per_wh is None else r.instantaneous_price_wei_per_wh
        for r in rows
    ]
    handles = ax.plot(
        x, _per_kwh(np.asarray(cleared, float)), "o-", color="#d62728", label="cleared"
    )
    handles += ax.plot(
        x, _per_kwh(np.asarray(total, float)), "--", color="#1f77b4", label="instantaneous"
    )
    ax.set_xlabel("interval")
    ax.set_ylabel("price (LABC/kWh)")
    soc = [np.nan if r.soc_wh is None else r.soc_wh / 1000.0 for r in rows]
    if any(not np.isnan(s) for s in soc):
        right = ax.twinx()
        handles += right.plot(x, soc, color="#2ca02c", lw=2, label="battery SoC")
        right.set_ylabel("battery SoC (kWh)")
    if not rows:
        _empty(ax, "no interval recorded")
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.08, 1.0), fontsize=8, frameon=False
    )
    return Plot(
        "prices",
        "Prices and state of charge",
        "The price each interval cleared at and the instantaneous (PDE) price, in LABC/kWh.",
        fig,
    )


def balance_plot(data: RunData) -> Plot:
    """Unexplained energy per interval against its tolerance, and the run's CUSUM."""
    fig, (ax, cusum_ax) = _figure(2, 5.6)
    balances = [b for b in data.report.audit.balances if b.unexplained_wh is not None]
    if balances:
        x = np.asarray([b.interval_id for b in balances], float)
        u = np.asarray([b.unexplained_wh for b in balances], float)
        tol = np.asarray([b.tolerance_wh for b in balances], float)
        colors = ["#d62728" if b.flagged else "#2ca02c" for b in balances]
        ax.bar(x, u, width=0.7, color=colors, label="unexplained")
        ax.step(x, tol, where="mid", color="#555555", ls="--", lw=1, label="± tolerance")
        ax.step(x, -tol, where="mid", color="#555555", ls="--", lw=1)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    else:
        _empty(ax, "no feeder meter: the energy balance was not measured")
    ax.set_ylabel("unexplained (Wh)")
    cusum = data.report.cusum
    if cusum is not None and cusum.steps:
        cx = [s.interval_id for s in cusum.steps]
        cusum_ax.plot(cx, [s.statistic_wh for s in cusum.steps], "o-", color="#9467bd")
        cusum_ax.axhline(cusum.threshold_wh, color="#d62728", ls="--", lw=1)
        cusum_ax.set_ylabel("CUSUM (Wh)")
        cusum_ax.legend(
            ["CUSUM statistic", "threshold"],
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            fontsize=8,
            frameon=False,
        )
    else:
        _empty(cusum_ax, "no CUSUM: nothing measured")
    cusum_ax.set_xlabel("interval")
    return Plot(
        "balance",
        "Energy balance",
        "Energy the meters and the feeder leave unexplained (red: over the tolerance), and "
        "Page's CUSUM of it over the run.",
        fig,
    )


def findings_plot(data: RunData) -> Plot:
    """How many findings each check raised in each interval (the run's own at 0)."""
    fig, (ax,) = _figure(height_in=3.2)
    findings = data.report.audit.findings
    if not findings:
        _empty(ax, "no findings: every check is clean")
        ax.set_xticks([])
        ax.set_yticks([])
        return Plot("findings", "Audit findings", "The audit flagged nothing.", fig)
    checks = list(CHECKS)
    points: dict[tuple[int, int], int] = {}
    for f in findings:
        key = (f.interval_id, checks.index(check_of(f)))
        points[key] = points.get(key, 0) + 1
    xs, ys, counts = zip(*((i, c, n) for (i, c), n in sorted(points.items())), strict=True)
    ax.scatter(xs, ys, s=[40 + 25 * n for n in counts], color="#d62728", zorder=3)
    used = sorted(set(ys))
    ax.set_yticks(used, [checks[c] for c in used])
    ax.set_xlabel("interval (0: the whole run)")
    ax.margins(y=0.3)
    return Plot(
        "findings",
        "Audit findings",
        f"{len(findings)} findings; a dot per interval and check, larger for more findings.",
        fig,
    )


def participants_plot(data: RunData) -> Plot:
    """Each participant's energy bought and sold, and LABC paid and received."""
    fig, (energy_ax, money_ax) = _figure(2, 5.6)
    names = [p.participant for p in data.participants]
    x = np.arange(len(names), dtype=float)
    energy_ax.bar(x - 0.2, [p.bought_wh for p in data.participants], 0.4, label="bought")
    energy_ax.bar(x + 0.2, [p.sold_wh for p in data.participants], 0.4, label="sold")
    energy_ax.set_ylabel("energy (Wh)")
    money_ax.bar(x - 0.2, [p.paid_wei / WEI_PER_LABC for p in data.participants], 0.4, label="paid")
    money_ax.bar(
        x + 0.2,
        [p.received_wei / WEI_PER_LABC for p in data.participants],
        0.4,
        label="received",
    )
    money_ax.set_ylabel("LABC")
    for ax in (energy_ax, money_ax):
        ax.set_xticks(x, names)
        ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    if not names:
        _empty(energy_ax, "no participant traded")
    return Plot(
        "participants",
        "Per-participant energy and money",
        "Energy each participant bought and sold on the market, and what it paid and received.",
        fig,
    )


PLOTS: tuple[Callable[[RunData], Plot | list[Plot]], ...] = (
    power_plot,
    curves_plot,
    curves_grids,
    prices_plot,
    balance_plot,
    findings_plot,
    participants_plot,
)


def report_plots(data: RunData) -> list[Plot]:
    """Every plot of the report, in order."""
    out: list[Plot] = []
    for make in PLOTS:
        made = make(data)
        out.extend(made if isinstance(made, list) else [made])
    return out
