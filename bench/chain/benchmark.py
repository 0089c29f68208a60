"""``gridbench chain bench``: batched settlement against one transaction per trade.

Both run in the same process on the same node: the baseline settles each trade in its own
transaction; the batched run settles intervals of 1,000 trades among 50 participants,
with every participant's signed meter reading verified on chain.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from bench.chain.market import Market
from bench.chain.readings import SignedReading
from pricing import Trade

PARTICIPANTS = 50
TRADES_PER_INTERVAL = 1000
DEPOSIT_WEI = 10**15


@dataclass(frozen=True)
class BenchResult:
    """Figures of one benchmark run (the JSON keys of ``--json``)."""

    gas_per_trade: float
    trades_per_s: float
    baseline_gas_per_trade: float
    baseline_trades_per_s: float
    intervals: int
    trades_per_interval: int
    participants: int
    baseline_trades: int
    gas_per_interval: int
    unverified_gas_per_trade: float

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def random_trades(names: Sequence[str], count: int, rng: random.Random) -> list[Trade]:
    """``count`` trades between distinct random participants, 1–500 Wh at 200–300 wei/Wh."""
    trades = []
    for _ in range(count):
        buyer, seller = rng.sample(list(names), 2)
        trades.append(Trade(buyer, seller, rng.randint(1, 500), rng.randint(200, 300)))
    return trades


def _settle_timed(
    market: Market,
    intervals: dict[int, list[Trade]],
    readings: dict[int, dict[str, int | SignedReading]] | None,
) -> tuple[int, float, int]:
    """(gas used, seconds, trades settled) for settling ``intervals`` one after another."""
    gas = settled = 0
    start = time.perf_counter()
    for interval_id, trades in intervals.items():
        result = market.settle_interval(
            interval_id, trades, None if readings is None else readings[interval_id]
        )
        gas += result.gas_used
        settled += len(result.settled_trades)
    return gas, time.perf_counter() - start, settled


def run_benchmark(url: str, *, quick: bool = False, seed: int = 1) -> BenchResult:
    """Deploy fresh markets on the node at ``url`` and measure both ways of settling."""
    rng = random.Random(seed)
    names = [f"p{n:02d}" for n in range(PARTICIPANTS)]
    batches = 2 if quick else 10
    baseline_trades = 50 if quick else 300

    plain = Market.deploy(url, require_readings=False)
    plain.add_participants(names, DEPOSIT_WEI)
    single = {n + 1: [t] for n, t in enumerate(random_trades(names, baseline_trades, rng))}
    base_gas, base_s, base_done = _settle_timed(plain, single, None)

    batched = {n + 1: random_trades(names, TRADES_PER_INTERVAL, rng) for n in range(batches)}
    unverified_gas, _, _ = _settle_timed(plain, {10**6 + k: v for k, v in batched.items()}, None)

    metered = Market.deploy(url, require_readings=True)
    metered.add_participants(names, DEPOSIT_WEI)
    # The meters sign their readings themselves: signing is outside the timed path.
    stamp = int(time.time())
    readings: dict[int, dict[str, int | SignedReading]] = {
        i: {p: metered.settler.meter_reading(p, i, 10 * i, stamp) for p in names} for i in batched
    }
    gas, seconds, done = _settle_timed(metered, batched, readings)
    if done != batches * TRADES_PER_INTERVAL or base_done != baseline_trades:
        raise RuntimeError("benchmark trades were rejected: deposits are too small")
    total = batches * TRADES_PER_INTERVAL
    return BenchResult(
        gas_per_trade=gas / total,
        trades_per_s=total / seconds,
        baseline_gas_per_trade=base_gas / baseline_trades,
        baseline_trades_per_s=baseline_trades / base_s,
        intervals=batches,
        trades_per_interval=TRADES_PER_INTERVAL,
        participants=PARTICIPANTS,
        baseline_trades=baseline_trades,
        gas_per_interval=gas // batches,
        unverified_gas_per_trade=unverified_gas / total,
    )


def format_table(result: BenchResult) -> str:
    """The benchmark as a plain-text table with ratios against the baseline."""
    rows = [
        (
            "one tx per trade (baseline)",
            result.baseline_gas_per_trade,
            result.baseline_trades_per_s,
        ),
        (
            f"batch of {result.trades_per_interval}, signed readings",
            result.gas_per_trade,
            result.trades_per_s,
        ),
    ]
    lines = [
        f"chain settlement: {result.participants} participants, "
        f"{result.intervals} intervals x {result.trades_per_interval} trades, "
        f"baseline {result.baseline_trades} trades",
        f"{'mode':<36}{'gas/trade':>12}{'x base':>9}{'trades/s':>12}{'x base':>9}",
    ]
    for label, gas, rate in rows:
        lines.append(
            f"{label:<36}{gas:>12,.0f}{result.baseline_gas_per_trade / gas:>8.1f}x"
            f"{rate:>12,.0f}{rate / result.baseline_trades_per_s:>8.1f}x"
        )
    lines.append(
        f"(batch without readings: {result.unverified_gas_per_trade:,.0f} gas/trade; "
        f"{result.gas_per_interval:,} gas per 1,000-trade interval)"
    )
    return "\n".join(lines)
