"""The run report: replay a run journal through the audit and summarize it.

Everything comes from the journal alone (metered energy, the feeder, the order books,
the clearings and the trades as settled or rejected on chain), so a run can be audited
again later, on another machine, without the meters or the chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from bench.errors import ConfigError
from bench.store import Journal, RecordedInterval
from pricing import (
    AuditPolicy,
    AuditReport,
    Clearing,
    IntervalRecord,
    SettledTrade,
    Side,
    audit,
)


@dataclass(frozen=True)
class IntervalRow:
    """One line of the report."""

    interval_id: int
    cleared_wh: int
    price_wei_per_wh: int | None
    settled: int
    rejected: int
    value_settled_wei: int
    unexplained_wh: float | None
    interval: int = 0
    cleared_price_wei_per_wh: int | None = None
    volume_wh: int = 0
    offered_wh: int = 0
    """Offered by the microgrid's own participants (the grid excluded)."""
    bid_wh: int = 0
    """Bid for by the microgrid's own participants (the grid excluded)."""
    grid_import_wh: float | None = None
    """What the feeder meter imported from the city grid."""
    grid_export_wh: float | None = None
    """What the feeder meter exported to the city grid."""
    soc_wh: float | None = None
    """The shared battery's state of charge at the interval's end."""
    instantaneous_price_wei_per_wh: float | None = None
    price_components: dict[str, float] | None = None


@dataclass(frozen=True)
class RunReport:
    """The replayed audit of a journal and its per-interval rows."""

    journal: Path
    rows: tuple[IntervalRow, ...]
    audit: AuditReport
    meters: dict[str, dict[str, str]] = field(default_factory=dict)
    """Per meter id: {"attestation": "meter" | "bench", "signer": address}."""


def replay(path: Path | str) -> RunReport:
    """Audit a run again from its journal."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(
            f"no run journal at {path}; pass the journal.sqlite of a run (runs/<time>/)"
        )
    journal = Journal(path)
    try:
        mechanism = str(journal.meta("mechanism") or "pay_as_clear")
        recorded = {key: journal.meta(key) for key in ("loss_fraction", "tolerance_fraction")}
        policy = AuditPolicy(
            **{k: float(v) for k, v in recorded.items() if isinstance(v, int | float)}
        )
        intervals = journal.intervals()
        meters = journal.meta("meters")
    finally:
        journal.close()
    records, rows = [], []
    for kept in intervals:
        paid = kept.settled_trades
        unpaid = tuple(t for t, _ in kept.rejected_trades)
        cleared = Clearing(
            kept.price_wei_per_wh, kept.volume_wh, paid + unpaid, mechanism=mechanism
        )
        records.append(
            IntervalRecord(
                kept.interval_id,
                kept.metered,
                cleared,
                [SettledTrade.of(t, kept.tx_hash) for t in paid],
                feeder_import_wh=kept.feeder_import_wh,
                orders=kept.orders,
                price_components_wei_per_wh=kept.price_components_wei_per_wh,
                grid=kept.grid,
            )
        )
    report = _audit(records, intervals, policy)
    for kept, record, balance in zip(intervals, records, report.balances, strict=True):
        grid = kept.grid
        own = [o for o in kept.orders if grid is None or o.participant != grid.participant]
        components = dict(kept.price_components_wei_per_wh)
        rows.append(
            IntervalRow(
                record.interval_id,
                record.clearing.volume_wh,
                record.clearing.price_wei_per_wh,
                len(record.settlements),
                len(record.clearing.trades) - len(record.settlements),
                sum(s.value_wei for s in record.settlements),
                balance.unexplained_wh,
                interval=record.interval_id,
                cleared_price_wei_per_wh=record.clearing.price_wei_per_wh,
                volume_wh=record.clearing.volume_wh,
                offered_wh=sum(o.energy_wh for o in own if o.side is Side.OFFER),
                bid_wh=sum(o.energy_wh for o in own if o.side is Side.BID),
                grid_import_wh=None if grid is None else grid.feeder_import_wh,
                grid_export_wh=None if grid is None else grid.feeder_export_wh,
                soc_wh=kept.soc_wh,
                instantaneous_price_wei_per_wh=components.get("total"),
                price_components=components,
            )
        )
    return RunReport(path, tuple(rows), report, dict(meters) if isinstance(meters, dict) else {})


def _audit(
    records: list[IntervalRecord], intervals: list[RecordedInterval], policy: AuditPolicy
) -> AuditReport:
    """The audit of every interval, each with the step allowance the run recorded."""
    parts = [
        audit([r], policy.widened(kept.step_allowance_wh))
        for r, kept in zip(records, intervals, strict=True)
    ]
    return AuditReport(
        sum(p.settlements_checked for p in parts),
        sum(p.value_recomputed_wei for p in parts),
        sum(p.value_settled_wei for p in parts),
        tuple(b for p in parts for b in p.balances),
        tuple(f for p in parts for f in p.findings),
    )


def format_report(report: RunReport) -> str:
    """The report as a text table, totals and findings."""
    lines = [
        f"run journal {report.journal}",
        "interval  cleared Wh  price wei/Wh  settled  rejected  value LABC  unexplained Wh",
    ]
    for r in report.rows:
        price = "-" if r.price_wei_per_wh is None else str(r.price_wei_per_wh)
        unexplained = "-" if r.unexplained_wh is None else f"{r.unexplained_wh:.1f}"
        lines.append(
            f"{r.interval_id:8d}  {r.cleared_wh:10d}  {price:>12}  {r.settled:7d}  "
            f"{r.rejected:8d}  {r.value_settled_wei / 1e6:10.6f}  {unexplained:>14}"
        )
    a = report.audit
    lines.append(
        f"{a.settlements_checked} settlements recomputed: {a.value_recomputed_wei} wei "
        f"recomputed, {a.value_settled_wei} wei settled"
    )
    lines.append("audit clean" if a.clean else f"{len(a.findings)} audit findings:")
    lines.extend(f"  {m}" for m in a.messages())
    return "\n".join(lines)
