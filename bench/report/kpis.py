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
- ``curtailed_wh``, ``shed_wh``: PV curtailed at the feeder's export limit and city load
  shed at the substation's supply cap, from the journal's ``curtailment`` and ``shedding``
  rows (0 for a run that recorded none);
- ``prosumer_revenue_wei``: what the microgrid's sellers were paid (local and grid sales);
- ``consumer_savings_wei``: Σ (import tariff of the interval − price) × energy over the
  local purchases: what buyers saved against buying that energy from the grid;
- ``self_sufficiency``: 1 − grid import / consumption (the participants' metered import,
  the battery's charging excluded); ``self_consumption``: self-consumed / PV;
- ``battery_throughput_wh``: the battery meter's import plus export;
- ``peak_import_w``: the largest interval-average import through the feeder (or bought
  from the grid without one);
- ``emissions_avoided_kg``: ``pv_wh`` (PV that reached a load or the grid, so curtailed
  PV avoids nothing) times ``[grid] emission_factor_g_per_kwh`` (0 without a grid);
- with an ``[aggregator]``: ``via_aggregator_wh``, the campus energy the aggregator sold
  to the city (counted once: in ``traded_local_wh`` and ``shortfall_covered_wh`` as the
  city's purchase, never again as the savers' delivery); ``pass_through_wei``, what it
  paid the savers for it (their revenue); ``aggregator_fee_wei``, what it kept (the
  run's only: the aggregator is in no area).

Per area (``[[participants]] area``, :func:`area_kpis`) the same names mean the area's own
participants: its producers' PV, what they sold to the grid (``exported_wh``; the
feeder is the whole microgrid's), trades inside the area, what its PV fed neither the
grid nor the other area (``self_consumed_wh``), the campus-to-city trades either side
took part in, its own curtailment, shedding, revenue, savings and grid purchases.
"""

from __future__ import annotations

import sqlite3
import tomllib
from collections.abc import Mapping, Sequence
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
    battery_throughput_wh: float = 0.0
    peak_import_w: float = 0.0
    emissions_avoided_kg: float = 0.0
    via_aggregator_wh: float = 0.0
    pass_through_wei: int = 0
    aggregator_fee_wei: int = 0

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
    "curtailed_wh",
    "shed_wh",
    "via_aggregator_wh",
)
"""The energy KPIs :func:`interval_series` gives per interval."""


def interval_series(
    config: ScenarioConfig,
    intervals: Sequence[RecordedInterval],
    curtailed_wh: Mapping[int, Mapping[str, float]] | None = None,
    shed_wh: Mapping[int, Mapping[str, float]] | None = None,
) -> dict[str, list[float]]:
    """Each energy KPI of :data:`SERIES`, interval by interval (``curtailed_wh`` and
    ``shed_wh``: each interval's per participant, :func:`recorded_by_interval`)."""
    per_interval = [
        compute_kpis(
            config,
            [kept],
            curtailed_wh=(curtailed_wh or {}).get(kept.interval_id),
            shed_wh=(shed_wh or {}).get(kept.interval_id),
        )
        for kept in intervals
    ]
    return {name: [float(getattr(k, name)) for k in per_interval] for name in SERIES}


def interval_start_hour(config: ScenarioConfig, interval_id: int) -> float:
    """Hour of day at which interval ``interval_id`` (1-based) starts."""
    start_s = config.start_s + (interval_id - 1) * config.market_interval_s
    return (start_s / 3600.0) % 24.0


def compute_kpis(
    config: ScenarioConfig,
    intervals: Sequence[RecordedInterval],
    *,
    curtailed_wh: Mapping[str, float] | None = None,
    shed_wh: Mapping[str, float] | None = None,
    area: str | None = None,
) -> Kpis:
    """The KPIs of ``intervals`` (as the journal kept them) under the run's ``config``:
    of the whole run, or of one ``area``'s participants. ``curtailed_wh`` and ``shed_wh``
    are each participant's over the same intervals."""
    grid = config.grid.participant if config.grid is not None else None
    factor_g_per_kwh = 0.0 if config.grid is None else config.grid.emission_factor_g_per_kwh
    battery = config.battery.participant if config.battery is not None else None
    area_of = {p.agent.participant: p.area for p in config.participants}
    agg = None if config.aggregator is None else config.aggregator.participant
    lower = None if config.aggregator is None else config.aggregator.lower_area

    def mine(name: str) -> bool:  # the run: everyone but the grid; an area: its participants
        return name != grid and (area is None or area_of.get(name) == area)

    producers = {
        p.agent.participant
        for p in config.participants
        if p.agent.role.value == "prosumer" and p.agent.participant != battery
    }
    producers = {n for n in producers if mine(n)}
    pv_wh = consumption_wh = city_demand_wh = throughput_wh = 0.0
    traded_local_wh = covered_wh = sold_to_grid_wh = bought_from_grid_wh = 0.0
    sold_out_wh = feeder_export_wh = feeder_import_wh = peak_wh = 0.0
    feeder_seen = False
    revenue_wei = savings_wei = passed_wei = agg_revenue_wei = 0
    via_wh = 0.0
    for kept in intervals:
        for m in kept.metered:
            if m.participant in producers:
                pv_wh += m.export_wh
            if m.participant != battery and m.participant in area_of and mine(m.participant):
                consumption_wh += m.import_wh
            if mine(m.participant) and area_of.get(m.participant) == "city":
                city_demand_wh += m.import_wh
            if m.participant == battery and mine(m.participant):
                throughput_wh += m.import_wh + m.export_wh
        bought_here_wh = 0.0
        if kept.grid is not None:
            feeder_seen = True
            feeder_export_wh += kept.grid.feeder_export_wh
            feeder_import_wh += kept.grid.feeder_import_wh
        tariff = _tariff_wei_per_wh(config, kept.interval_id)
        for t in kept.settled_trades:
            buyer_own, seller_own = mine(t.buyer), mine(t.seller)
            value_wei = t.energy_wh * t.price_wei_per_wh
            if agg is not None and t.buyer == agg:  # a saver's delivery to the pool
                if seller_own:
                    revenue_wei += value_wei
                    passed_wei += value_wei
                    if area is not None:  # it left the area (the city's purchase counts it)
                        via_wh += t.energy_wh
                        sold_out_wh += t.energy_wh if t.seller in producers else 0.0
                continue
            if agg is not None and t.seller == agg:  # the pool sold to the city
                agg_revenue_wei += value_wei
                if buyer_own:
                    via_wh += t.energy_wh if area is not None else 0.0
                    savings_wei += (
                        0 if tariff is None else (tariff - t.price_wei_per_wh) * t.energy_wh
                    )
                if area is None:
                    via_wh += t.energy_wh
                    traded_local_wh += t.energy_wh
                if buyer_own or area == lower:
                    covered_wh += t.energy_wh
                continue
            if seller_own:
                revenue_wei += value_wei
            if t.buyer == grid and seller_own:
                sold_to_grid_wh += t.energy_wh
            elif t.seller == grid and buyer_own:
                bought_from_grid_wh += t.energy_wh
                bought_here_wh += t.energy_wh
            elif grid not in (t.buyer, t.seller):
                if buyer_own and seller_own:
                    traded_local_wh += t.energy_wh
                elif seller_own and t.seller in producers:
                    sold_out_wh += t.energy_wh
                if buyer_own and tariff is not None:
                    savings_wei += (tariff - t.price_wei_per_wh) * t.energy_wh
                campus_to_city = (
                    area_of.get(t.buyer) == "city" and area_of.get(t.seller) == "campus"
                )
                if campus_to_city and (buyer_own or seller_own):
                    covered_wh += t.energy_wh
        if area is None and kept.grid is not None:
            bought_here_wh = kept.grid.feeder_import_wh
        peak_wh = max(peak_wh, bought_here_wh)
    whole = area is None
    exported_wh = feeder_export_wh if whole and feeder_seen else sold_to_grid_wh
    grid_import_wh = feeder_import_wh if whole and feeder_seen else bought_from_grid_wh
    self_consumed_wh = max(0.0, pv_wh - exported_wh - sold_out_wh)
    return Kpis(
        pv_wh=pv_wh,
        self_consumed_wh=self_consumed_wh,
        traded_local_wh=traded_local_wh,
        exported_wh=exported_wh,
        curtailed_wh=sum(wh for n, wh in (curtailed_wh or {}).items() if mine(n)),
        city_demand_wh=city_demand_wh,
        shortfall_covered_wh=covered_wh,
        shed_wh=sum(wh for n, wh in (shed_wh or {}).items() if mine(n)),
        prosumer_revenue_wei=revenue_wei,
        consumer_savings_wei=savings_wei,
        self_sufficiency=_ratio(
            consumption_wh - min(grid_import_wh, consumption_wh), consumption_wh
        ),
        self_consumption=_ratio(self_consumed_wh, pv_wh),
        battery_throughput_wh=throughput_wh,
        peak_import_w=peak_wh * 3600.0 / config.market_interval_s,
        emissions_avoided_kg=pv_wh / 1000.0 * factor_g_per_kwh / 1000.0,
        via_aggregator_wh=via_wh,
        pass_through_wei=passed_wei,
        aggregator_fee_wei=agg_revenue_wei - passed_wei if area is None else 0,
    )


def area_kpis(
    config: ScenarioConfig,
    intervals: Sequence[RecordedInterval],
    *,
    curtailed_wh: Mapping[str, float] | None = None,
    shed_wh: Mapping[str, float] | None = None,
) -> dict[str, Kpis]:
    """The KPIs of each area of the run's participants (``campus``, ``city``, ...)."""
    areas = sorted({p.area for p in config.participants if p.area})
    return {
        a: compute_kpis(config, intervals, curtailed_wh=curtailed_wh, shed_wh=shed_wh, area=a)
        for a in areas
    }


def _tariff_wei_per_wh(config: ScenarioConfig, interval_id: int) -> int | None:
    if config.grid is None:
        return None
    return config.grid.tariff.import_tariff_wei_per_wh(interval_start_hour(config, interval_id))


def _ratio(part: float, whole: float) -> float | None:
    return part / whole if whole > 0 else None


def recorded_by_interval(path: Path, table: str) -> dict[int, dict[str, float]]:
    """A journal's ``curtailment`` or ``shedding`` rows: interval -> participant -> Wh
    (read-only; none without the table)."""
    db = sqlite3.connect(f"file:{quote(str(path))}?mode=ro", uri=True)
    try:
        exists = db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchone()
        rows = (
            db.execute(f"SELECT interval_id, participant, energy_wh FROM {table}") if exists else []
        )
        out: dict[int, dict[str, float]] = {}
        for interval_id, name, wh in rows:
            out.setdefault(int(interval_id), {})[str(name)] = float(wh)
        return out
    finally:
        db.close()


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


def journal_all_kpis(path: Path) -> tuple[Kpis, dict[str, Kpis]] | None:
    """The run's KPIs and each area's, from the journal at ``path`` (read-only); None
    without a usable config."""
    config, intervals = journal_intervals(path)
    if config is None:
        return None
    curtailed, shed = (_totals(recorded_by_interval(path, t)) for t in ("curtailment", "shedding"))
    run = compute_kpis(config, intervals, curtailed_wh=curtailed, shed_wh=shed)
    return run, area_kpis(config, intervals, curtailed_wh=curtailed, shed_wh=shed)


def _totals(by_interval: Mapping[int, Mapping[str, float]]) -> dict[str, float]:
    """Each participant's Wh summed over the intervals."""
    out: dict[str, float] = {}
    for energy in by_interval.values():
        for name, wh in energy.items():
            out[name] = out.get(name, 0.0) + wh
    return out
