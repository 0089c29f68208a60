"""``gridbench chain bench``: batched settlement of signed, meter-backed trades against one
transaction per trade and against a plain token transfer per trade.

All runs use one market on one node in the same process: every trade is covered by both
parties' signed orders and by their meters' attested counters (bench-attested meters,
each interval with a fresh signed reading per participant). Participants and meters sign
outside the timed path, as they would on their own devices.
"""

from __future__ import annotations

import random
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass

from bench.attestation import SignedCounters
from bench.chain.deployment import encode_call
from bench.chain.market import Market
from bench.chain.orders import SignedBook
from pricing import Trade

PARTICIPANTS = 50
TRADES_PER_INTERVAL = 1000
SMALL_PARTICIPANTS = 10
SMALL_TRADES = 20
DEPOSIT_WEI = 10**15
READING_STEP_WH = 100_000  # each interval's attested import and export per participant


@dataclass(frozen=True)
class BenchResult:
    """Figures of one benchmark run (the JSON keys of ``--json``)."""

    gas_per_trade: float
    trades_per_s: float
    baseline_gas_per_trade: float
    baseline_trades_per_s: float
    gas_per_trade_small: float
    erc20_transfer_gas: float
    intervals: int
    trades_per_interval: int
    participants: int
    baseline_trades: int
    gas_per_interval: int
    floor_noop_tx_per_s: float
    """No-op transactions sent and mined one at a time per second (the floor)."""
    trades_per_noop_tx: float
    """``trades_per_s`` over ``floor_noop_tx_per_s``: trades per no-op round trip."""
    settle_s_per_noop_tx: float
    """One 1,000-trade settlement's time in no-op round trips."""

    def as_dict(self) -> dict[str, float | int]:
        return asdict(self)


def random_trades(names: Sequence[str], count: int, rng: random.Random) -> list[Trade]:
    """``count`` trades between distinct random participants, 1–500 Wh at 200–300 wei/Wh."""
    trades = []
    for _ in range(count):
        buyer, seller = rng.sample(list(names), 2)
        trades.append(Trade(buyer, seller, rng.randint(1, 500), rng.randint(200, 300)))
    return trades


class _Meters:
    """Fresh bench-attested counters of every participant's meter, one per interval."""

    def __init__(self, market: Market, names: Sequence[str]) -> None:
        self.market, self.names, self.step = market, list(names), 0

    def next(self, names: Sequence[str] | None = None) -> list[SignedCounters]:
        self.step += 1
        wh, t = self.step * READING_STEP_WH, self.step * 3600
        sign = self.market.registry.attestor.sign
        return [sign(n, wh, wh, t) for n in (self.names if names is None else names)]


def _settle_timed(
    market: Market, work: list[tuple[int, list[Trade], SignedBook, list[SignedCounters]]]
) -> tuple[int, float, int]:
    """(gas used, seconds, trades settled) for settling pre-signed intervals in order."""
    gas = settled = 0
    start = time.perf_counter()
    for interval_id, trades, book, readings in work:
        result = market.settle_interval(interval_id, trades, readings, book=book)
        gas += result.gas_used
        settled += len(result.settled_trades)
    return gas, time.perf_counter() - start, settled


def _noop_tx_per_s(market: Market, count: int) -> float:
    """The floor: no-op transactions (operator to itself, no data) sent and awaited one at
    a time, per second."""
    operator = market.operator
    start = time.perf_counter()
    for _ in range(count):
        operator.wait(operator.send(operator.address, b"", gas=21_000))
    return count / (time.perf_counter() - start)


def _transfer_gas(market: Market, trades: Sequence[Trade]) -> float:
    """Mean gas of a plain LabCredit transfer, buyer to seller, per trade."""
    total = 0
    for t in trades:
        data = encode_call(market.token, "transfer", market.wallet(t.seller).address, 1)
        total += market.wallet(t.buyer).transact(market.token_address, data).gas_used
    return total / len(trades)


def run_benchmark(url: str, *, quick: bool = False, seed: int = 1) -> BenchResult:
    """Deploy a fresh market on the node at ``url`` and measure the ways of settling."""
    rng = random.Random(seed)
    names = [f"p{n:02d}" for n in range(PARTICIPANTS)]
    batches = 2 if quick else 10
    baseline_trades = 50 if quick else 300
    market = Market.deploy(url, max_interval_step=1)
    market.add_participants(names, DEPOSIT_WEI)
    for name in names:  # wallet LABC for the ERC-20 baseline
        wallet = market.wallet(name).address
        market.operator.transact(
            market.token_address, encode_call(market.token, "mint", wallet, 10**9)
        )
    meters = _Meters(market, names)
    interval = 0

    def signed(
        trades: list[Trade], readings: list[SignedCounters]
    ) -> tuple[int, list[Trade], SignedBook, list[SignedCounters]]:
        nonlocal interval
        interval += 1
        return interval, trades, market.settler.sign_book(interval, trades), readings

    single = [
        signed([t], meters.next() if n == 0 else [])
        for n, t in enumerate(random_trades(names, baseline_trades, rng))
    ]
    base_gas, base_s, base_done = _settle_timed(market, single)
    noops = 20 if quick else 100
    floor_before = _noop_tx_per_s(market, noops // 2)
    batched = [
        signed(random_trades(names, TRADES_PER_INTERVAL, rng), meters.next())
        for _ in range(batches)
    ]
    gas, seconds, done = _settle_timed(market, batched)
    floor = (floor_before + _noop_tx_per_s(market, noops // 2)) / 2  # around the timed loop
    small_names = names[:SMALL_PARTICIPANTS]
    small = [
        signed(random_trades(small_names, SMALL_TRADES, rng), meters.next(small_names))
        for _ in range(batches)
    ]
    small_gas, _, small_done = _settle_timed(market, small)
    erc20 = _transfer_gas(market, random_trades(names, 20 if quick else 100, rng))
    total = batches * TRADES_PER_INTERVAL
    if (done, base_done, small_done) != (total, baseline_trades, batches * SMALL_TRADES):
        raise RuntimeError("benchmark trades were rejected: deposits or attested energy too small")
    return BenchResult(
        gas_per_trade=gas / total,
        trades_per_s=total / seconds,
        baseline_gas_per_trade=base_gas / baseline_trades,
        baseline_trades_per_s=baseline_trades / base_s,
        gas_per_trade_small=small_gas / (batches * SMALL_TRADES),
        erc20_transfer_gas=erc20,
        intervals=batches,
        trades_per_interval=TRADES_PER_INTERVAL,
        participants=PARTICIPANTS,
        baseline_trades=baseline_trades,
        gas_per_interval=gas // batches,
        floor_noop_tx_per_s=floor,
        trades_per_noop_tx=total / seconds / floor,
        settle_s_per_noop_tx=seconds / batches * floor,
    )


def format_table(result: BenchResult) -> str:
    """The benchmark as a plain-text table with ratios against both baselines."""
    rows = [
        (
            "one tx per trade (baseline)",
            result.baseline_gas_per_trade,
            result.baseline_trades_per_s,
        ),
        (
            f"batch of {result.trades_per_interval}, signed + metered",
            result.gas_per_trade,
            result.trades_per_s,
        ),
        (f"batch of {SMALL_TRADES} among {SMALL_PARTICIPANTS}", result.gas_per_trade_small, None),
        ("plain ERC-20 transfer per trade", result.erc20_transfer_gas, None),
    ]
    lines = [
        f"chain settlement: {result.participants} participants, "
        f"{result.intervals} intervals x {result.trades_per_interval} trades, "
        f"baseline {result.baseline_trades} trades",
        f"{'mode':<40}{'gas/trade':>11}{'x base':>8}{'x erc20':>9}{'trades/s':>11}{'x base':>8}",
    ]
    for label, gas, rate in rows:
        speed = (
            f"{rate:>11,.0f}{rate / result.baseline_trades_per_s:>7.1f}x"
            if rate
            else f"{'-':>11}{'':>8}"
        )
        lines.append(
            f"{label:<40}{gas:>11,.0f}{result.baseline_gas_per_trade / gas:>7.1f}x"
            f"{result.erc20_transfer_gas / gas:>8.2f}x{speed}"
        )
    lines.append(f"({result.gas_per_interval:,} gas per 1,000-trade interval)")
    lines.append(
        f"floor: {result.floor_noop_tx_per_s:,.0f} no-op tx/s sent and mined one at a time; "
        f"{result.trades_per_noop_tx:,.0f} trades per no-op round trip, one 1,000-trade "
        f"settlement takes {result.settle_s_per_noop_tx:.1f} no-op round trips"
    )
    return "\n".join(lines)
