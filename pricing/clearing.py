"""Market mechanisms: two-sided pay-as-clear and pay-as-bid, one-sided pay-as-offer.

Priority (all mechanisms): bids by price descending, offers by price ascending, ties by
earlier ``time_s``, then by input order.

Pay-as-clear (uniform-price double auction, one call per interval). The sorted bids and
offers form the demand and supply step curves. The cleared volume ``Q`` is the largest
energy such that every unit up to ``Q`` has its bid price ≥ its offer price; this
maximizes welfare, and when the marginal bid and offer prices are equal it is the
largest of the welfare-maximizing volumes. The uniform price is the midpoint of the
marginal bid price ``b`` and marginal offer price ``s`` (the orders that serve unit
``Q``), rounded down: ``(b + s) // 2``. Since ``s ≤ price ≤ b``, no matched buyer pays
more than its limit and no matched seller gets less than its limit. Matched pairs are
the overlaps of the bid and offer intervals on the cumulative energy axis.

Pay-as-bid (continuous double auction). Orders arrive in time order; after each arrival
time the resting book is matched while the best bid crosses the best offer, and each
pair trades at the bid's price. With one arrival time this is the pay-as-clear volume.

Pay-as-offer (one-sided). Only sellers post prices; each buyer, in arrival order, takes
the cheapest offers present at its arrival time whose price is at most its limit, pays
the offer's price, and leaves with what it got (buyers do not rest in the book).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence

import numpy as np

from pricing.book import Clearing, Order, OrderArrays
from pricing.matching import Matching, empty_matching


def clear_uniform(book: OrderArrays) -> Matching:
    """Pay-as-clear on numpy columns: O(n log n) (two sorts, cumsum, searchsorted)."""
    bids = book.priority(bids=True)
    offers = book.priority(bids=False)
    if bids.size == 0 or offers.size == 0:
        return empty_matching("pay_as_clear")
    bid_price = book.price_wei_per_wh[bids]
    offer_price = book.price_wei_per_wh[offers]
    bid_cum = np.cumsum(book.energy_wh[bids])
    offer_cum = np.cumsum(book.energy_wh[offers])
    # For each bid i: offer energy priced ≤ its limit; units up to min(B_i, k_i) all cross.
    offers_below = np.searchsorted(offer_price, bid_price, side="right")
    k = np.concatenate(([0], offer_cum))[offers_below]
    volume = int(np.minimum(bid_cum, k).max())
    if volume == 0:
        return empty_matching("pay_as_clear")
    marginal_bid = int(np.searchsorted(bid_cum, volume, side="left"))
    marginal_offer = int(np.searchsorted(offer_cum, volume, side="left"))
    price = (int(bid_price[marginal_bid]) + int(offer_price[marginal_offer])) // 2
    ends = np.append(_merge_sorted(bid_cum[:marginal_bid], offer_cum[:marginal_offer]), volume)
    energy = np.diff(ends, prepend=0)
    bid_row = bids[np.searchsorted(bid_cum, ends, side="left")]
    offer_row = offers[np.searchsorted(offer_cum, ends, side="left")]
    prices = np.full(energy.shape, price, dtype=np.int64)
    return Matching.build("pay_as_clear", book, bid_row, offer_row, energy, prices, price)


def _merge_sorted(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Union of two strictly increasing arrays, in O(n) placement after binary searches."""
    at = np.searchsorted(a, b)
    dup = at < a.size
    dup[dup] = a[at[dup]] == b[dup]
    b, at = b[~dup], at[~dup]
    out = np.empty(a.size + b.size, dtype=a.dtype)
    where_b = at + np.arange(b.size)
    mask = np.ones(out.size, dtype=bool)
    mask[where_b] = False
    out[where_b] = b
    out[mask] = a
    return out


def match_continuous(book: OrderArrays, *, one_sided: bool) -> Matching:
    """Pay-as-bid (``one_sided=False``) or pay-as-offer (``one_sided=True``), event by event."""
    mechanism = "pay_as_offer" if one_sided else "pay_as_bid"
    n = len(book)
    arrival = np.lexsort((np.arange(n), book.time_s)).tolist()
    times = book.time_s.tolist()
    price = book.price_wei_per_wh.tolist()
    left = book.energy_wh.tolist()
    is_bid = book.is_bid.tolist()
    bid_heap: list[tuple[int, float, int]] = []
    offer_heap: list[tuple[int, float, int]] = []
    pairs: list[tuple[int, int, int, int]] = []
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
                    _match(bid_heap, offer_heap, left, price, pairs, pay_bid=False)
                    bid_heap.clear()
        if not one_sided:
            _match(bid_heap, offer_heap, left, price, pairs, pay_bid=True)
        start = stop
    if not pairs:
        return empty_matching(mechanism)
    cols = np.array(pairs, dtype=np.int64).T
    return Matching.build(mechanism, book, cols[0], cols[1], cols[2], cols[3], None)


def _match(
    bid_heap: list[tuple[int, float, int]],
    offer_heap: list[tuple[int, float, int]],
    left: list[int],
    price: list[int],
    pairs: list[tuple[int, int, int, int]],
    *,
    pay_bid: bool,
) -> None:
    """Match the best bid with the best offer while they cross; fill ``pairs``."""
    while bid_heap and offer_heap and -bid_heap[0][0] >= offer_heap[0][0]:
        bid, offer = bid_heap[0][2], offer_heap[0][2]
        energy = min(left[bid], left[offer])
        pairs.append((bid, offer, energy, price[bid] if pay_bid else price[offer]))
        left[bid] -= energy
        left[offer] -= energy
        if left[bid] == 0:
            heapq.heappop(bid_heap)
        if left[offer] == 0:
            heapq.heappop(offer_heap)


def _book(orders: Sequence[Order] | OrderArrays) -> OrderArrays:
    return orders if isinstance(orders, OrderArrays) else OrderArrays.from_orders(orders)


def pay_as_clear(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """Two-sided uniform-price clearing; ``Clearing.price_wei_per_wh`` is the uniform price."""
    book = _book(orders)
    return clear_uniform(book).to_clearing(book)


def pay_as_bid(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """Two-sided continuous matching; each pair trades at the bid's price (no single price)."""
    book = _book(orders)
    return match_continuous(book, one_sided=False).to_clearing(book)


def pay_as_offer(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """One-sided market; buyers take offers at the offer's price (no single price)."""
    book = _book(orders)
    return match_continuous(book, one_sided=True).to_clearing(book)
