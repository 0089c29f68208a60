"""``gridbench compare RUN_A RUN_B``: two runs' KPIs side by side (journals read-only)."""

from __future__ import annotations

import argparse
import json
from dataclasses import fields
from pathlib import Path

from bench.errors import ConfigError
from bench.report.kpis import (
    SERIES,
    Kpis,
    interval_series,
    journal_all_kpis,
    journal_intervals,
    recorded_by_interval,
)
from bench.report.svg_plot import line_chart

UNITS = {"_wh": "Wh", "_wei": "wei", "_w": "W", "_kg": "kg"}
PLOT_TITLES = {
    "pv_wh": "PV delivered",
    "self_consumed_wh": "PV consumed inside the microgrid",
    "traded_local_wh": "Traded locally",
    "exported_wh": "Exported to the city grid",
    "city_demand_wh": "City demand",
    "shortfall_covered_wh": "City shortfall covered by the campus",
    "curtailed_wh": "PV curtailed (wasted)",
    "shed_wh": "City load shed",
}
"""Each plotted KPI's title (the plot's file keeps the KPI's name)."""


def _journal(run: Path) -> Path:
    path = run / "journal.sqlite" if run.is_dir() else run
    if not path.is_file():
        raise ConfigError(
            f"no run journal at {path}; pass a run folder (runs/<time>/) or its journal"
        )
    return path


def _kpis(run: Path) -> dict[str, Kpis]:
    """The run's KPIs (under ``""``) and each area's (under its name)."""
    path = _journal(run)
    found = journal_all_kpis(path)
    if found is None:
        raise ConfigError(
            f"{path} holds no readable config: its KPIs cannot be computed "
            "(`gridbench report` says why)"
        )
    return {"": found[0], **found[1]}


def _cell(value: float | int | None) -> str:
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"


def comparison(
    a: dict[str, Kpis], b: dict[str, Kpis]
) -> list[tuple[str, float | int | None, float | int | None]]:
    """(KPI name, A's value, B's value) for every KPI of the run, in definition order, then
    of each area both runs have (``campus.pv_wh``)."""
    rows = []
    for area in [x for x in a if x in b]:
        prefix = f"{area}." if area else ""
        rows += [
            (f"{prefix}{f.name}", getattr(a[area], f.name), getattr(b[area], f.name))
            for f in fields(Kpis)
        ]
    return rows


def write_plots(run_a: Path, run_b: Path, folder: Path) -> list[Path]:
    """One SVG per energy KPI of :data:`SERIES`: A's and B's values interval by interval."""
    series, labels, minutes = [], [], set()
    for tag, run in (("A", run_a), ("B", run_b)):
        path = _journal(run)
        config, intervals = journal_intervals(path)
        assert config is not None  # _kpis read the same journal first
        curtailed = recorded_by_interval(path, "curtailment")
        shed = recorded_by_interval(path, "shedding")
        series.append(interval_series(config, intervals, curtailed, shed))
        mode = "conventional" if config.market.mechanism == "utility" else "market"
        name = path.parent.name
        labels.append(f"{tag}: {mode}, {name if len(name) <= 26 else name[:25] + '…'}")
        minutes.add(config.market_interval_s / 60)
    per = f"{minutes.pop():g}-min interval" if len(minutes) == 1 else "interval"
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name in SERIES:
        path = folder / f"{name}.svg"
        chart = line_chart(
            f"{PLOT_TITLES.get(name, name)} [{name}]",
            f"Wh per {per}",
            {labels[0]: series[0][name], labels[1]: series[1][name]},
            x_label=f"{per} of the run",
        )
        path.write_text(chart)
        written.append(path)
    return written


def run_compare(args: argparse.Namespace) -> int:
    """Print the KPIs of two runs side by side with B − A (and write the plots)."""
    rows = comparison(_kpis(args.run_a), _kpis(args.run_b))
    if args.plots is not None:
        write_plots(args.run_a, args.run_b, args.plots)
    if args.json:
        print(
            json.dumps(
                {
                    "a": str(args.run_a),
                    "b": str(args.run_b),
                    "kpis": {name: {"a": a, "b": b} for name, a, b in rows},
                },
                indent=2,
            )
        )
        return 0
    width = max(len(name) for name, _, _ in rows)
    print(f"{'KPI':<{width}}  {'A':>16}  {'B':>16}  {'B - A':>16}  unit")
    for name, a, b in rows:
        unit = next((u for suffix, u in UNITS.items() if name.endswith(suffix)), "ratio")
        delta = None if a is None or b is None else b - a
        print(f"{name:<{width}}  {_cell(a):>16}  {_cell(b):>16}  {_cell(delta):>16}  {unit}")
    print(f"A: {args.run_a}\nB: {args.run_b}")
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``compare`` subcommand."""
    parser = subparsers.add_parser(
        "compare",
        help="two runs' KPIs side by side",
        description="The KPIs of two finished runs (their journals, read-only) side by "
        "side with their difference: energy in Wh, money in wei, ratios.",
    )
    parser.add_argument("run_a", type=Path, metavar="RUN_A", help="run folder or journal.sqlite")
    parser.add_argument("run_b", type=Path, metavar="RUN_B", help="run folder or journal.sqlite")
    parser.add_argument("--json", action="store_true", help="print the comparison as JSON")
    parser.add_argument(
        "--plots",
        type=Path,
        metavar="DIR",
        help="also write one SVG per energy KPI (A and B interval by interval) into DIR",
    )
    parser.set_defaults(func=run_compare)
