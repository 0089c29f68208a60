"""Events the bench emits to its listeners (panel, CLI report, pytest plugin).

Every event is a frozen dataclass with units in its field names. The scenario worker
puts them on a :class:`queue.Queue`; listeners drain it on their own thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pricing import Clearing, Trade


@dataclass(frozen=True)
class MeterSample:
    """One meter's latest state, as plotted live."""

    meter_id: str
    participant: str
    sim_time_s: float
    power_w: float
    energy_import_wh: float
    energy_export_wh: float
    relay_closed: bool


@dataclass(frozen=True, eq=False)
class IntervalReport:
    """Everything one market interval produced, from meters to the chain."""

    interval_id: int
    sim_time_s: float
    clearing: Clearing
    demand_energy_wh: np.ndarray
    demand_price_wei_per_wh: np.ndarray
    supply_energy_wh: np.ndarray
    supply_price_wei_per_wh: np.ndarray
    price_components_wei_per_wh: dict[str, float]
    settled_trades: tuple[Trade, ...]
    rejected_trades: tuple[tuple[Trade, str], ...]
    tx_hash: str | None
    gas_used: int
    audit_findings: tuple[str, ...] = field(default_factory=tuple)
    feeder_import_wh: float | None = None
    unexplained_wh: float | None = None
    balance_tolerance_wh: float = 0.0

    @property
    def value_settled_wei(self) -> int:
        """Sum of the settled trades' values, in wei."""
        return sum(t.value_wei for t in self.settled_trades)

    @property
    def energy_settled_wh(self) -> int:
        """Energy of the settled trades, in Wh."""
        return sum(t.energy_wh for t in self.settled_trades)


@dataclass(frozen=True)
class BenchStatus:
    """A human-readable status line (start, stop, outage, reconnect)."""

    sim_time_s: float
    level: str
    message: str


@dataclass(frozen=True)
class RunSummary:
    """The summary of a whole run, printed by ``gridbench demo --json``."""

    meters: int
    intervals: int
    trades_settled: int
    trades_rejected: int
    energy_traded_wh: int
    value_settled_wei: int
    chain_url: str
    market_address: str
    escrow_conserved: bool
    audit_clean: bool
    journal_path: str | None

    def as_dict(self) -> dict[str, object]:
        """The summary as a JSON-ready dict."""
        return dict(self.__dict__)


BenchEvent = MeterSample | IntervalReport | BenchStatus | RunSummary
