"""Market mechanisms: two-sided pay-as-clear and pay-as-bid, one-sided pay-as-offer.

Priority (all mechanisms): bids by price descending, offers by price ascending, ties by
earlier ``time_s``, then by input order. No mechanism trades a participant with itself:
where a participant's own bid and offer would be matched, the energy nets out
(``netted_wh``: it stays with the participant, nothing is paid, no trade is recorded).

Pay-as-clear (uniform-price double auction, one call per interval). The sorted bids and
offers form the demand and supply step curves. The cleared volume ``Q`` is the largest
energy such that every unit up to ``Q`` has its bid price ≥ its offer price; it
maximizes welfare. The competitive-equilibrium interval ``[p_lo, p_hi]`` is the set of
prices at which both the demand and the supply correspondence admit ``Q``: with ``b``,
``s`` the prices of the bid and offer serving unit ``Q`` and ``b'``, ``s'`` those serving
unit ``Q + 1`` (when there is one), ``p_lo = max(s, b')`` and ``p_hi = min(b, s')``. The
uniform price is the k-double auction on it: ``p_lo + ⌊k (p_hi − p_lo)⌋`` (``k = ½`` by
default). ``price_rule="gsy_e"`` instead reproduces gsy-e's clearing rate and volume (see
docs/pricing.md). Priority decides which orders at the marginal levels are (partly)
filled. The matched bids and offers are laid along the energy axis and their overlaps
are the pairs; a pair whose bid and offer belong to one participant nets out instead of
trading. At a uniform price neither the pairing nor the netting changes any
participant's net position or net payment.

Pay-as-bid (continuous double auction). Orders arrive in time order; after each arrival
time the resting book is matched while the best bid crosses the best offer, and each
pair trades at the bid's price. With one arrival time this is the pay-as-clear volume.

Pay-as-offer (one-sided). Only sellers post prices; each buyer, in arrival order, takes
the cheapest offers present at its arrival time whose price is at most its limit, pays
the offer's price, and leaves with what it got (buyers do not rest in the book).

In both continuous mechanisms a best bid and best offer of the same participant are
both reduced by the smaller quantity without a trade (decrement and cancel).
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Callable, Sequence
from dataclasses import replace
from fractions import Fraction

import numpy as np

from pricing.book import Clearing, Order, OrderArrays, Side, Trade
from pricing.errors import PricingInputError
from pricing.matching import Matching, allocation_welfare, empty_matching
from pricing.pairing import level_energy, level_fills, pair_fills

PRICE_RULES = ("equilibrium", "gsy_e")
"""Uniform-price rules of pay-as-clear: the k-double auction on the equilibrium
interval, or gsy-e's clearing rate (and its volume)."""


def clear_uniform(
    book: OrderArrays,
    method: str = "auto",
    *,
    k: float | Fraction = Fraction(1, 2),
    price_rule: str = "equilibrium",
) -> Matching:
    """Pay-as-clear on numpy columns.

    ``k`` in [0, 1] places the price in the equilibrium interval (0 = ``p_lo``, the
    buyers' best; 1 = ``p_hi``); it is taken exactly (``Fraction(k)``) before the floor.
    ``method="levels"`` builds the step curves from per-level energy totals (O(n + price
    span), compiled) and orders only the rows at the two marginal levels; ``"sort"`` sorts
    both sides by priority (O(n log n)); ``"auto"`` takes ``"levels"`` when the price span
    is at most ``4 n + 1024``. Volume, price, fills and welfare are identical; the pairing
    of matched orders may differ (irrelevant at a uniform price).
    """
    if method not in ("auto", "levels", "sort"):
        raise PricingInputError(f"method must be 'auto', 'levels' or 'sort', got {method!r}")
    if price_rule not in PRICE_RULES:
        raise PricingInputError(
            f"price_rule must be one of {', '.join(PRICE_RULES)}, got {price_rule!r}"
        )
    if isinstance(k, bool) or not isinstance(k, int | float | Fraction) or not 0 <= k <= 1:
        raise PricingInputError(f"k must be a number in [0, 1] (0.5 = midpoint), got {k!r}")
    n = len(book)
    n_bids = int(np.count_nonzero(book.is_bid))
    if n_bids == 0 or n_bids == n:
        return empty_matching("pay_as_clear")
    if method == "auto":
        span = int(book.price_wei_per_wh.max()) - int(book.price_wei_per_wh.min()) + 1
        method = "levels" if span <= 4 * n + 1024 else "sort"
    fill = _fills_by_levels if method == "levels" else _fills_by_sorting
    found = fill(book, Fraction(k), price_rule)
    if found is None:
        return empty_matching("pay_as_clear")
    outcome, bid_rows, bid_fill, offer_rows, offer_fill = found
    pair_bids, pair_offers, energy, netted, welfare = pair_fills(
        bid_rows, bid_fill, offer_rows, offer_fill, book.participant, book.price_wei_per_wh
    )
    if welfare is None:
        welfare = allocation_welfare(book, bid_rows, bid_fill, offer_rows, offer_fill)
    return Matching(
        mechanism="pay_as_clear",
        bid_row=pair_bids,
        offer_row=pair_offers,
        energy_wh=energy,
        price_wei_per_wh=np.full(energy.shape, outcome.price, dtype=np.int64),
        clearing_price_wei_per_wh=outcome.price,
        volume_wh=outcome.volume - netted,  # every filled Wh is traded or netted
        welfare_wei=welfare,
        netted_wh=netted,
        price_range=outcome.price_range,
    )


class _Outcome:
    """Volume and uniform price chosen on the step curves, and the equilibrium interval."""

    __slots__ = ("price", "price_range", "volume")

    def __init__(self, volume: int, price: int, price_range: tuple[int, int] | None) -> None:
        self.volume, self.price, self.price_range = volume, price, price_range


def _outcome(
    bid_level: np.ndarray,
    demand: np.ndarray,
    offer_level: np.ndarray,
    supply: np.ndarray,
    k: Fraction,
    rule: str,
) -> _Outcome | None:
    """The rule on compact step curves.

    ``bid_level`` holds the distinct bid prices descending and ``demand[i]`` the bid
    energy priced ≥ ``bid_level[i]``; ``offer_level`` the distinct offer prices ascending
    and ``supply[j]`` the offer energy priced ≤ ``offer_level[j]`` (int64).
    """
    cheap = np.searchsorted(offer_level, bid_level, side="right")
    supply_at_bid = np.where(cheap > 0, supply[np.maximum(cheap - 1, 0)], 0)
    if rule == "gsy_e":
        return _gsy_e(bid_level, demand, supply_at_bid)
    volume = int(np.minimum(demand, supply_at_bid).max())
    if volume == 0:
        return None
    low = int(offer_level[np.searchsorted(supply, volume)])
    high = int(bid_level[np.searchsorted(demand, volume)])
    if int(demand[-1]) > volume:  # the first bid left out caps the price from below
        low = max(low, int(bid_level[np.searchsorted(demand, volume + 1)]))
    if int(supply[-1]) > volume:  # the first offer left out caps it from above
        high = min(high, int(offer_level[np.searchsorted(supply, volume + 1)]))
    return _Outcome(volume, low + math.floor(k * (high - low)), (low, high))


def _gsy_e(bid_level: np.ndarray, demand: np.ndarray, supply_at_bid: np.ndarray) -> _Outcome | None:
    """gsy-e's rate: the lowest bid price at which the offers priced at or below it cover
    the bids priced at or above it, trading those bids; if there is none, the highest bid
    price, trading every offer priced at or below it."""
    covered = np.flatnonzero(supply_at_bid >= demand)
    if covered.size:
        i = int(covered[-1])
        return _Outcome(int(demand[i]), int(bid_level[i]), None)
    volume = int(supply_at_bid[0])
    return _Outcome(volume, int(bid_level[0]), None) if volume else None


_Fills = tuple[_Outcome, np.ndarray, np.ndarray, np.ndarray, np.ndarray]
"""(outcome, bid rows, bid fills, offer rows, offer fills)."""


def _fills_by_sorting(book: OrderArrays, k: Fraction, rule: str) -> _Fills | None:
    """The fills from fully sorted sides."""
    bids = book.priority(bids=True)
    offers = book.priority(bids=False)
    bid_price = book.price_wei_per_wh[bids]
    offer_price = book.price_wei_per_wh[offers]
    bid_cum = np.cumsum(book.energy_wh[bids])
    offer_cum = np.cumsum(book.energy_wh[offers])
    bid_last = np.append(bid_price[1:] != bid_price[:-1], True)
    offer_last = np.append(offer_price[1:] != offer_price[:-1], True)
    outcome = _outcome(
        bid_price[bid_last],
        bid_cum[bid_last],
        offer_price[offer_last],
        offer_cum[offer_last],
        k,
        rule,
    )
    if outcome is None:
        return None
    volume = outcome.volume
    mb = int(np.searchsorted(bid_cum, volume, side="left"))
    mo = int(np.searchsorted(offer_cum, volume, side="left"))
    bid_fill = np.diff(bid_cum[: mb + 1], prepend=0)
    bid_fill[-1] -= int(bid_cum[mb]) - volume
    offer_fill = np.diff(offer_cum[: mo + 1], prepend=0)
    offer_fill[-1] -= int(offer_cum[mo]) - volume
    return outcome, bids[: mb + 1], bid_fill, offers[: mo + 1], offer_fill


def _fills_by_levels(book: OrderArrays, k: Fraction, rule: str) -> _Fills | None:
    """The same result from per-price-level energy totals, sorting only the marginal levels.

    ``D[l]`` is the bid energy priced at level ≥ l, ``S[l]`` the offer energy priced ≤ l.
    For the chosen volume ``V`` the marginal bid level is the highest with ``D ≥ V``, the
    marginal offer level the lowest with ``S ≥ V``; orders strictly inside them fill
    completely, and the rest of ``V`` is filled at each marginal level in priority order.
    Both passes over the orders are compiled (:mod:`pricing.pairing`).
    """
    price = book.price_wei_per_wh
    low = int(price.min())
    span = int(price.max()) - low + 1
    hist = level_energy(price, book.is_bid, book.energy_wh, low, span)
    demand = np.cumsum(hist[: span - 1 : -1])[::-1]
    supply = np.cumsum(hist[:span])
    bid_at = np.flatnonzero(hist[span:])[::-1]
    offer_at = np.flatnonzero(hist[:span])
    outcome = _outcome(bid_at + low, demand[bid_at], offer_at + low, supply[offer_at], k, rule)
    if outcome is None:
        return None
    volume = outcome.volume
    bid_level = int(bid_at[np.searchsorted(demand[bid_at], volume)])
    offer_level = int(offer_at[np.searchsorted(supply[offer_at], volume)])
    above = int(demand[bid_level + 1]) if bid_level + 1 < span else 0
    below = int(supply[offer_level - 1]) if offer_level > 0 else 0
    bid_rows, bid_fill, offer_rows, offer_fill = level_fills(
        price,
        book.is_bid,
        book.energy_wh,
        book.time_s,
        bid_level + low,
        volume - above,
        offer_level + low,
        volume - below,
    )
    return outcome, bid_rows, bid_fill, offer_rows, offer_fill


def match_continuous(book: OrderArrays, *, one_sided: bool) -> Matching:
    """Pay-as-bid (``one_sided=False``) or pay-as-offer (``one_sided=True``), event by event."""
    mechanism = "pay_as_offer" if one_sided else "pay_as_bid"
    n = len(book)
    arrival = np.lexsort((np.arange(n), book.time_s)).tolist()
    times = book.time_s.tolist()
    price = book.price_wei_per_wh.tolist()
    left = book.energy_wh.tolist()
    is_bid = book.is_bid.tolist()
    who = book.participant.tolist()
    bid_heap: list[tuple[int, float, int]] = []
    offer_heap: list[tuple[int, float, int]] = []
    pairs: list[tuple[int, int, int, int]] = []
    netted: list[tuple[int, int, int, int]] = []
    start = 0
    while start < n:
        stop = start
        while stop < n and times[arrival[stop]] == times[arrival[start]]:
            stop += 1
        group = arrival[start:stop]
        for row in group:
            if not is_bid[row]:
                heapq.heappush(offer_heap, (price[row], times[row], row))
        for row in group:
            if is_bid[row]:
                heapq.heappush(bid_heap, (-price[row], times[row], row))
                if one_sided:
                    _match(bid_heap, offer_heap, left, price, who, pairs, netted, pay_bid=False)
                    bid_heap.clear()
        if not one_sided:
            _match(bid_heap, offer_heap, left, price, who, pairs, netted, pay_bid=True)
        start = stop
    if not pairs and not netted:
        return empty_matching(mechanism)
    cols = np.array(pairs, dtype=np.int64).reshape(-1, 4).T
    own = np.array(netted, dtype=np.int64).reshape(-1, 4).T
    welfare = allocation_welfare(
        book,
        np.concatenate((cols[0], own[0])),
        np.concatenate((cols[2], own[2])),
        np.concatenate((cols[1], own[1])),
        np.concatenate((cols[2], own[2])),
    )
    return Matching.build(
        mechanism,
        cols[0],
        cols[1],
        cols[2],
        cols[3],
        None,
        welfare_wei=welfare,
        netted_wh=int(own[2].sum()),
    )


def _match(
    bid_heap: list[tuple[int, float, int]],
    offer_heap: list[tuple[int, float, int]],
    left: list[int],
    price: list[int],
    who: list[int],
    pairs: list[tuple[int, int, int, int]],
    netted: list[tuple[int, int, int, int]],
    *,
    pay_bid: bool,
) -> None:
    """Match the best bid with the best offer while they cross; fill ``pairs``.

    A participant's own best bid and best offer are both reduced without a trade
    (recorded in ``netted``).
    """
    while bid_heap and offer_heap and -bid_heap[0][0] >= offer_heap[0][0]:
        bid, offer = bid_heap[0][2], offer_heap[0][2]
        energy = min(left[bid], left[offer])
        out = netted if who[bid] == who[offer] else pairs
        out.append((bid, offer, energy, price[bid] if pay_bid else price[offer]))
        left[bid] -= energy
        left[offer] -= energy
        if left[bid] == 0:
            heapq.heappop(bid_heap)
        if left[offer] == 0:
            heapq.heappop(offer_heap)


def pay_as_clear(
    orders: Sequence[Order] | OrderArrays,
    *,
    k: float | Fraction = Fraction(1, 2),
    price_rule: str = "equilibrium",
) -> Clearing:
    """Two-sided uniform-price clearing; ``Clearing.price_wei_per_wh`` is the uniform price.

    ``price_rule="equilibrium"`` (default): the k-double auction on the competitive
    equilibrium interval; ``"gsy_e"``: gsy-e's clearing rate and volume (mechanism name
    ``pay_as_clear_gsy_e``). See :func:`clear_uniform`.
    """
    book = OrderArrays.of(orders)
    clearing = clear_uniform(book, k=k, price_rule=price_rule).to_clearing(book)
    if price_rule == "gsy_e":
        return replace(clearing, mechanism="pay_as_clear_gsy_e")
    return clearing


def pay_as_clear_gsy_e(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """Pay-as-clear at gsy-e's clearing rate and volume (``price_rule="gsy_e"``)."""
    return pay_as_clear(orders, price_rule="gsy_e")


def pay_as_bid(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """Two-sided continuous matching; each pair trades at the bid's price (no single price)."""
    book = OrderArrays.of(orders)
    return match_continuous(book, one_sided=False).to_clearing(book)


def pay_as_offer(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """One-sided market; buyers take offers at the offer's price (no single price)."""
    book = OrderArrays.of(orders)
    return match_continuous(book, one_sided=True).to_clearing(book)


UTILITY_GRID = "grid"
"""The grid participant the ``utility`` mechanism trades with (``[grid] participant``)."""


def utility(orders: Sequence[Order] | OrderArrays, *, grid: str = UTILITY_GRID) -> Clearing:
    """No local market (the conventional supply the market is measured against): the grid
    sells every bid its energy at the grid's offer price and buys every offer at the
    grid's bid price, limit prices and the grid's volumes aside (a utility serves every
    meter at its tariffs; the feeder's limits are physical: curtailment and shedding).
    Nobody trades with anybody but the grid; without a grid order on a side, that side
    does not trade."""
    if isinstance(orders, OrderArrays):
        orders = [
            Order(
                orders.names[int(who)],
                Side.BID if bid else Side.OFFER,
                int(energy),
                int(price),
                float(t),
            )
            for who, bid, energy, price, t in zip(
                orders.participant,
                orders.is_bid,
                orders.energy_wh,
                orders.price_wei_per_wh,
                orders.time_s,
                strict=True,
            )
        ]
    book = list(orders)
    grid_offer = next((o for o in book if o.participant == grid and o.side is Side.OFFER), None)
    grid_bid = next((o for o in book if o.participant == grid and o.side is Side.BID), None)
    trades: list[Trade] = []
    welfare = 0
    for own, side, sells in ((grid_offer, Side.BID, True), (grid_bid, Side.OFFER, False)):
        if own is None:
            continue
        price = own.price_wei_per_wh
        for o in book:
            if o.participant == grid or o.side is not side:
                continue
            if sells:
                trades.append(Trade(o.participant, grid, o.energy_wh, price))
                welfare += (o.price_wei_per_wh - price) * o.energy_wh
            else:
                trades.append(Trade(grid, o.participant, o.energy_wh, price))
                welfare += (price - o.price_wei_per_wh) * o.energy_wh
    volume = sum(t.energy_wh for t in trades)
    return Clearing(None, volume, tuple(trades), mechanism="utility", welfare_wei=welfare)


Mechanism = Callable[[Sequence[Order] | OrderArrays], Clearing]

MECHANISMS: dict[str, Mechanism] = {
    "pay_as_clear": pay_as_clear,
    "pay_as_clear_gsy_e": pay_as_clear_gsy_e,
    "pay_as_bid": pay_as_bid,
    "pay_as_offer": pay_as_offer,
    "utility": utility,
}
"""Every clearing mechanism by the name ``Clearing.mechanism`` carries."""
