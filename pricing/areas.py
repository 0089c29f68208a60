"""Two market areas and the aggregator between them (docs/pricing.md, "The aggregator").

The lower area (the campus) clears first on its own: its buyers take its sellers' energy
(and the grid's, at its import tariff). What its sellers could not sell there is the
pooled surplus; the aggregator offers it, as one order, in the upper area (the city),
where the city's buyers, the grid's offer and the grid's feed-in bid clear with it. The
aggregator then buys from the savers exactly what the city took (so it never holds
energy), each saver delivering in proportion to its pooled surplus, and passes the
city revenue through: each saver receives its delivered share of the revenue less the
declared fee, to the wei (:func:`apportion`, the largest-remainder rule).

The pool's ask is the highest limit price of its savers grossed up by the fee, so the
pass-through per Wh never falls below any saver's own limit; the chain settles each
saver's purchase as at most two trades at adjacent integer prices whose values add up
to its exact pass-through.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from pricing.book import Clearing, Order, Side, Trade
from pricing.errors import PricingInputError

BP = 10_000
"""Basis points in one."""


@dataclass(frozen=True)
class AreaPlan:
    """Who is in which area: ``upper`` holds the city's participants, every other one but
    the grid and the aggregator is in the lower area (the campus). The grid offers in
    both areas (its import tariff), and bids its feed-in tariff in the upper one only."""

    aggregator: str
    upper: frozenset[str]
    fee_bp: int = 0
    grid: str | None = None

    def __post_init__(self) -> None:
        if not 0 <= self.fee_bp < BP:
            raise PricingInputError(
                f"the aggregator's fee must be 0..9999 basis points, got {self.fee_bp}"
            )

    def in_lower(self, participant: str) -> bool:
        """True for a lower-area (campus) participant."""
        return participant not in self.upper and participant not in (self.aggregator, self.grid)


@dataclass(frozen=True)
class PassThrough:
    """The aggregator's books for one interval: what it bought from each saver (Wh and
    wei), what the city paid it, and its fee."""

    delivered_wh: Mapping[str, int]
    paid_wei: Mapping[str, int]
    revenue_wei: int
    fee_wei: int

    @property
    def energy_wh(self) -> int:
        """What the aggregator bought in the campus and sold in the city."""
        return sum(self.delivered_wh.values())


@dataclass(frozen=True)
class AreaClearing:
    """Both areas cleared: ``clearing`` holds every trade (campus, city and the
    aggregator's purchases) and the city's price; ``orders`` the book with the
    aggregator's two orders added (its city offer and, if the city took any, its campus
    bid: what it signs)."""

    clearing: Clearing
    lower: Clearing
    upper: Clearing
    pass_through: PassThrough
    orders: tuple[Order, ...]


def apportion(total: int, weights: Mapping[str, int]) -> dict[str, int]:
    """``total`` split in proportion to ``weights`` (integers ≥ 0, not all 0) in whole
    units: each gets ``floor(total * w / W)``, and the remainder goes one unit each to
    the largest fractional parts, ties to the name that sorts first (Hamilton's
    method). The parts add up to ``total`` exactly."""
    whole = sum(weights.values())
    if total < 0 or whole <= 0 or any(w < 0 for w in weights.values()):
        raise PricingInputError("apportion needs a total ≥ 0 and weights ≥ 0, not all 0")
    parts = {name: total * w // whole for name, w in weights.items()}
    left = total - sum(parts.values())
    by_rest = sorted(weights, key=lambda name: (-(total * weights[name] % whole), name))
    for name in by_rest[:left]:
        parts[name] += 1
    return parts


def pass_through(revenue_wei: int, fee_bp: int, delivered_wh: Mapping[str, int]) -> PassThrough:
    """The fee (``floor(revenue * fee_bp / 10^4)``) and each saver's payment: the rest
    apportioned by delivered energy (:func:`apportion`)."""
    fee = revenue_wei * fee_bp // BP
    delivered = {n: wh for n, wh in delivered_wh.items() if wh > 0}
    paid = apportion(revenue_wei - fee, delivered) if delivered else {}
    return PassThrough(delivered, paid, revenue_wei, fee)


def pool_ask_wei_per_wh(limits_wei_per_wh: Iterable[int], fee_bp: int) -> int:
    """The pool's ask in the city: the savers' highest limit grossed up by the fee,
    ``ceil(max * 10^4 / (10^4 - fee_bp))``, so the revenue less the fee pays every saver
    at least its own limit per Wh."""
    return -(-max(limits_wei_per_wh) * BP // (BP - fee_bp))


def purchase_trades(aggregator: str, pt: PassThrough) -> list[Trade]:
    """The aggregator's purchases as settleable trades: saver ``s`` delivered ``d`` Wh for
    ``v`` wei, so ``d - r`` Wh at ``p = v // d`` and ``r = v - d p`` Wh at ``p + 1``
    (values adding up to ``v`` exactly, each Wh at an integer price)."""
    trades = []
    for saver in sorted(pt.delivered_wh):
        d, v = pt.delivered_wh[saver], pt.paid_wei[saver]
        p, r = divmod(v, d)
        if d - r:
            trades.append(Trade(aggregator, saver, d - r, p))
        if r:
            trades.append(Trade(aggregator, saver, r, p + 1))
    return trades


def tie_export_wh(metered: Iterable[tuple[str, float, float]], plan: AreaPlan) -> float:
    """What the campus sent towards the city in an interval: its metered net export
    ``max(0, Σ export - Σ import)`` over the lower area's (participant, import Wh,
    export Wh). It bounds the pool and backs the aggregator's trades on chain."""
    net = sum(e - i for name, i, e in metered if plan.in_lower(name))
    return max(0.0, net)


def clear_areas(
    orders: Sequence[Order],
    plan: AreaPlan,
    mechanism: Callable[[Sequence[Order]], Clearing],
    *,
    tie_wh: int | None = None,
) -> AreaClearing:
    """Clear the campus, offer its pooled surplus (at most ``tie_wh``, the campus's
    metered net export) in the city, and pass the city's revenue through (module doc).
    ``orders`` are the participants' and the grid's; any of the aggregator's are ignored."""
    agg, grid = plan.aggregator, plan.grid
    own = [o for o in orders if o.participant != agg]
    grid_offers = [o for o in own if o.participant == grid and o.side is Side.OFFER]
    lower_book = [o for o in own if plan.in_lower(o.participant)] + grid_offers
    lower = mechanism(lower_book)
    sold: dict[str, int] = {}
    for t in lower.trades:
        sold[t.seller] = sold.get(t.seller, 0) + t.energy_wh
    offered: dict[str, int] = {}
    limit: dict[str, int] = {}
    for o in lower_book:
        if o.side is Side.OFFER and o.participant != grid:
            offered[o.participant] = offered.get(o.participant, 0) + o.energy_wh
            limit[o.participant] = min(
                limit.get(o.participant, o.price_wei_per_wh), o.price_wei_per_wh
            )
    residual = {n: wh - sold.get(n, 0) for n, wh in offered.items() if wh > sold.get(n, 0)}
    pool_wh = sum(residual.values())
    if tie_wh is not None and pool_wh > max(0, tie_wh):
        pool_wh = max(0, tie_wh)
        residual = (
            {n: wh for n, wh in apportion(pool_wh, residual).items() if wh > 0} if pool_wh else {}
        )
    added: list[Order] = []
    upper_book = [o for o in own if o.participant in plan.upper or o.participant == grid]
    if pool_wh > 0:
        ask = pool_ask_wei_per_wh((limit[n] for n in residual), plan.fee_bp)
        time_s = max((o.time_s for o in orders), default=0.0)
        added.append(Order(agg, Side.OFFER, pool_wh, ask, time_s))
    upper = mechanism(upper_book + added)
    sold_wh = sum(t.energy_wh for t in upper.trades if t.seller == agg)
    revenue = sum(t.value_wei for t in upper.trades if t.seller == agg)
    delivered = apportion(sold_wh, residual) if sold_wh else {}
    pt = pass_through(revenue, plan.fee_bp, delivered)
    purchases = purchase_trades(agg, pt)
    if purchases:
        top = max(t.price_wei_per_wh for t in purchases)
        added.append(Order(agg, Side.BID, sold_wh, top, added[0].time_s))
    trades = (*lower.trades, *upper.trades, *purchases)
    clearing = Clearing(
        upper.price_wei_per_wh if upper.price_wei_per_wh is not None else lower.price_wei_per_wh,
        sum(t.energy_wh for t in trades),
        trades,
        mechanism=f"areas/{upper.mechanism}",
        welfare_wei=lower.welfare_wei + upper.welfare_wei,
        netted_wh=lower.netted_wh + upper.netted_wh,
    )
    return AreaClearing(clearing, lower, upper, pt, (*own, *added))


def tie_cap_wh(tie_wh: float) -> int:
    """The whole Wh of a tie's metered export the pool may take."""
    return math.floor(tie_wh + 1e-9)
