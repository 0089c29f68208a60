"""A finished run's journal as the events the live views take (replay without a chain).

The journal keeps every reading, order book, clearing, price breakdown, settlement and
balance, so :func:`replay_events` rebuilds the run's :class:`MeterSample` and
:class:`IntervalReport` events and the same widgets draw a past run as they drew it live.
The storage HJB's value function is not journaled: a replayed report carries the price
it composed (every component) but no ``storage`` object, which no view reads.
"""

from __future__ import annotations

from bench.chain import Settlement
from bench.events import BenchEvent, IntervalReport, MeterSample
from bench.report.run_data import RunData
from pricing import (
    AuditReport,
    Clearing,
    Finding,
    IntervalPricing,
    PriceBreakdown,
    demand_curve,
    supply_curve,
)

MAX_SAMPLES_PER_METER = 2000


def replay_events(data: RunData) -> list[BenchEvent]:
    """The run's samples (at most ``MAX_SAMPLES_PER_METER`` per meter, evenly thinned)
    followed by one report per interval, in order."""
    events: list[BenchEvent] = []
    for meter, (times, powers) in sorted(data.power.items()):
        step = max(1, len(times) // MAX_SAMPLES_PER_METER)
        owner = data.meter_participant.get(meter, meter)
        events.extend(
            MeterSample(meter, owner, t, p, 0.0, 0.0, True)
            for t, p in list(zip(times, powers, strict=True))[::step]
        )
    balances = {b.interval_id: b for b in data.report.audit.balances}
    findings: dict[int, list[Finding]] = {}
    for f in data.report.audit.findings:
        findings.setdefault(f.interval_id, []).append(f)
    for kept in data.intervals:
        i = kept.interval_id
        c = kept.price_components_wei_per_wh
        price = PriceBreakdown(
            c.get("production_cost", 0.0),
            c.get("market", 0.0),
            c.get("scarcity", 0.0),
            c.get("network", 0.0),
            c.get("tax", 0.0),
        )
        pricing = IntervalPricing(
            Clearing(kept.price_wei_per_wh, kept.volume_wh, kept.settled_trades),
            demand_curve(kept.orders),
            supply_curve(kept.orders),
            price,
            None,  # type: ignore[arg-type]  # not journaled (see the module's docstring)
        )
        end_s, tx, batch, block, value_wei, energy_wh = data.settlements.get(
            i, (0.0, kept.tx_hash or "", "", 0, 0, 0)
        )
        settlement = Settlement(
            i, tx, batch, block, kept.settled_trades, kept.rejected_trades, 0, value_wei, energy_wh
        )
        audit = AuditReport(
            len(kept.settled_trades),
            0,
            value_wei,
            (balances[i],) if i in balances else (),
            tuple(findings.get(i, ())),
        )
        events.append(
            IntervalReport(
                i,
                end_s,
                kept.metered,
                kept.feeder_import_wh,
                kept.orders,
                pricing,
                settlement,
                audit,
                grid=kept.grid,
                soc_wh=kept.soc_wh,
                battery_setpoint_w=kept.battery_setpoint_w,
                signal_wei_per_wh=kept.signal_wei_per_wh,
                step_allowance_wh=kept.step_allowance_wh,
            )
        )
    return events
