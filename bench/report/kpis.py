"""The run's key performance indicators, from its journal: energy, money and ratios.

Energy as the meters and the settlement saw it (Wh), per run and per area:

- ``pv_wh``: what the producers' meters exported (PV net of the load behind the same
  meter; the battery's discharge is storage, not PV);
- ``exported_wh``: what left the microgrid to the city grid through the feeder (the
  feeder meter when the run recorded it, else the energy sold to the grid participant);
- ``self_consumed_wh``: PV used inside the microgrid, ``pv_wh − exported_wh`` (≥ 0);
- ``traded_local_wh``: settled between participants (the grid on neither side);
- ``city_demand_wh``: what the ``area = "city"`` participants' meters imported;
- ``shortfall_covered_wh``: what the city's participants bought from campus sellers;
- ``curtailed_wh``, ``shed_wh``: PV curtailed and city load shed, from the journal's
  ``curtailment`` and ``shedding`` rows (0 for a run that recorded none);
- ``prosumer_revenue_wei``: what the microgrid's sellers were paid (local and grid sales);
- ``consumer_savings_wei``: Σ (import tariff of the interval − price) × energy over the
  local purchases: what buyers saved against buying that energy from the grid;
- ``self_sufficiency``: 1 − grid import / consumption (the participants' metered import,
  the battery's charging excluded); ``self_consumption``: self-consumed / PV.
"""

from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from urllib.parse import quote

from bench.config import ScenarioConfig, apply_overrides, parse_scenario
from bench.errors import BenchError
from bench.store import Journal, RecordedInterval


@dataclass(frozen=True)
class Kpis:
    """The KPIs of one run or one area (see the module's docstring for each)."""

    pv_wh: float
    self_consumed_wh: float
    traded_local_wh: float
    exported_wh: float
    curtailed_wh: float
    city_demand_wh: float
    shortfall_covered_wh: float
    shed_wh: float
    prosumer_revenue_wei: int
    consumer_savings_wei: int
    self_sufficiency: float | None
    self_consumption: float | None

    def as_json(self) -> dict[str, float | int | None]:
        """The KPIs as a JSON object (the ``kpis`` of ``gridbench report --json``)."""
        return asdict(self)


SERIES = (
    "pv_wh",
    "self_consumed_wh",
    "traded_local_wh",
    "exported_wh",
    "city_demand_wh",
    "shortfall_covered_wh",
)
"""The energy KPIs :func:`interval_series` gives per interval."""


def interval_series(
    config: ScenarioConfig, intervals: Sequence[RecordedInterval]
) -> dict[str, list[float]]:
    """Each energy KPI of :data:`SERIES`, interval by interval."""
    per_interval = [compute_kpis(config, [kept]) for kept in intervals]
    return {name: [float(getattr(k, name)) for k in per_interval] for name in SERIES}


def interval_start_hour(config: ScenarioConfig, interval_id: int) -> float:
    """Hour of day at which interval ``interval_id`` (1-based) starts."""
    start_s = config.start_s + (interval_id - 1) * config.market_interval_s
    return (start_s / 3600.0) % 24.0


def compute_kpis(
    config: ScenarioConfig,
    intervals: Sequence[RecordedInterval],
    *,
    curtailed_wh: float = 0.0,
    shed_wh: float = 0.0,
) -> Kpis:
    """The KPIs of ``intervals`` (as the journal kept them) under the run's ``config``."""
    grid = config.grid.participant if config.grid is not None else None
    battery = config.battery.participant if config.battery is not None else None
    area = {p.agent.participant: p.area for p in config.participants}
    producers = {
        p.agent.participant
        for p in config.participants
        if p.agent.role.value == "prosumer" and p.agent.participant != battery
    }
    pv_wh = consumption_wh = city_demand_wh = 0.0
    traded_local_wh = covered_wh = sold_to_grid_wh = bought_from_grid_wh = 0.0
    feeder_export_wh = feeder_import_wh = 0.0
    feeder_seen = False
    revenue_wei = savings_wei = 0
    for kept in intervals:
        for m in kept.metered:
            if m.participant in producers:
                pv_wh += m.export_wh
            if m.participant != battery and m.participant in area:
                consumption_wh += m.import_wh
            if area.get(m.participant) == "city":
                city_demand_wh += m.import_wh
        if kept.grid is not None:
            feeder_seen = True
            feeder_export_wh += kept.grid.feeder_export_wh
            feeder_import_wh += kept.grid.feeder_import_wh
        tariff = _tariff_wei_per_wh(config, kept.interval_id)
        for t in kept.settled_trades:
            value_wei = t.energy_wh * t.price_wei_per_wh
            if t.seller != grid:
                revenue_wei += value_wei
            if t.buyer == grid:
                sold_to_grid_wh += t.energy_wh
            elif t.seller == grid:
                bought_from_grid_wh += t.energy_wh
            else:
                traded_local_wh += t.energy_wh
                if tariff is not None:
                    savings_wei += (tariff - t.price_wei_per_wh) * t.energy_wh
                if area.get(t.buyer) == "city" and area.get(t.seller) == "campus":
                    covered_wh += t.energy_wh
    exported_wh = feeder_export_wh if feeder_seen else sold_to_grid_wh
    grid_import_wh = feeder_import_wh if feeder_seen else bought_from_grid_wh
    self_consumed_wh = max(0.0, pv_wh - exported_wh)
    return Kpis(
        pv_wh=pv_wh,
        self_consumed_wh=self_consumed_wh,
        traded_local_wh=traded_local_wh,
        exported_wh=exported_wh,
        curtailed_wh=curtailed_wh,
        city_demand_wh=city_demand_wh,
        shortfall_covered_wh=covered_wh,
        shed_wh=shed_wh,
        prosumer_revenue_wei=revenue_wei,
        consumer_savings_wei=savings_wei,
        self_sufficiency=_ratio(
            consumption_wh - min(grid_import_wh, consumption_wh), consumption_wh
        ),
        self_consumption=_ratio(self_consumed_wh, pv_wh),
    )


def _tariff_wei_per_wh(config: ScenarioConfig, interval_id: int) -> int | None:
    if config.grid is None:
        return None
    return config.grid.tariff.import_tariff_wei_per_wh(interval_start_hour(config, interval_id))


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def recorded_wh(db: sqlite3.Connection, table: str) -> float:
    """Σ energy_wh of a journal's ``curtailment`` or ``shedding`` rows (0 without the table)."""
    exists = db.execute(
        "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
    ).fetchone()
    if not exists:
        return 0.0
    (total,) = db.execute(f"SELECT COALESCE(SUM(energy_wh), 0) FROM {table}").fetchone()
    return float(total)


def recorded_config(journal: Journal) -> ScenarioConfig | None:
    """The config a journal recorded (with its overrides), or None when it cannot be rebuilt
    (the report's audit flags that)."""
    text, overrides = journal.meta("config_text"), journal.meta("config_overrides")
    if not isinstance(text, str) or not text or not isinstance(overrides, list):
        return None
    given = {str(k): v for k, v in overrides}
    try:
        source = Path(str(journal.meta("config") or "bench.toml"))
        paths = {k: v for k, v in given.items() if "." in k}
        config = parse_scenario(apply_overrides(tomllib.loads(text), paths), source=source)
        return replace(config, intervals=int(given["intervals"]), speed=float(given["speed"]))
    except (BenchError, tomllib.TOMLDecodeError, KeyError, TypeError, ValueError):
        return None


def journal_intervals(path: Path) -> tuple[ScenarioConfig | None, list[RecordedInterval]]:
    """The config a run journal recorded and its intervals (read-only)."""
    journal = Journal(path, read_only=True)
    try:
        return recorded_config(journal), journal.intervals()
    finally:
        journal.close()


def journal_kpis(path: Path) -> Kpis | None:
    """The KPIs of the run journal at ``path`` (read-only); None without a usable config."""
    config, intervals = journal_intervals(path)
    if config is None:
        return None
    db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        curtailed, shed = recorded_wh(db, "curtailment"), recorded_wh(db, "shedding")
    finally:
        db.close()
    return compute_kpis(config, intervals, curtailed_wh=curtailed, shed_wh=shed)
