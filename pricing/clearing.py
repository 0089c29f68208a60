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
    """Pay-as-clear on numpy columns: two sorts, cumulative sums and one merge, O(n log n)."""
    bids = book.priority(bids=True)
    offers = book.priority(bids=False)
    if bids.size == 0 or offers.size == 0:
        return empty_matching("pay_as_clear")
    bid_price = book.price_wei_per_wh[bids]
    offer_price = book.price_wei_per_wh[offers]
    bid_cum = np.cumsum(book.energy_wh[bids])
    offer_cum = np.cumsum(book.energy_wh[offers])
    volume = _crossing_volume(bid_price, bid_cum, offer_price, offer_cum)
    if volume == 0:
        return empty_matching("pay_as_clear")
    marginal_bid = int(np.searchsorted(bid_cum, volume, side="left"))
    marginal_offer = int(np.searchsorted(offer_cum, volume, side="left"))
    price = (int(bid_price[marginal_bid]) + int(offer_price[marginal_offer])) // 2
    ends, bid_index, offer_index = _merge_ends(
        bid_cum[:marginal_bid], offer_cum[:marginal_offer], volume
    )
    energy = np.diff(ends, prepend=0)
    prices = np.full(energy.shape, price, dtype=np.int64)
    return Matching.build(
        "pay_as_clear", book, bids[bid_index], offers[offer_index], energy, prices, price
    )


def _crossing_volume(
    bid_price: np.ndarray, bid_cum: np.ndarray, offer_price: np.ndarray, offer_cum: np.ndarray
) -> int:
    """Largest Q such that every unit up to Q has bid price ≥ offer price.

    Bid ``i`` crosses at its first unit ``B[i-1] + 1`` iff its price is at least the price of
    the offer serving that unit; this holds for a prefix of the bids, found by bisection.
    For the last crossing bid, Q = min(B[i], offer energy priced ≤ its limit).
    """
    starts = np.concatenate(([0], bid_cum[:-1])) + 1

    def crosses(i: int) -> bool:
        j = int(np.searchsorted(offer_cum, starts[i], side="left"))
        return j < offer_cum.size and int(offer_price[j]) <= int(bid_price[i])

    if not crosses(0):
        return 0
    lo, hi = 0, bid_price.size  # crosses(lo) holds; every index ≥ hi fails
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if crosses(mid) else (lo, mid)
    cheap = int(np.searchsorted(offer_price, bid_price[lo], side="right"))
    return min(int(bid_cum[lo]), int(offer_cum[cheap - 1]))


def _merge_ends(
    a: np.ndarray, b: np.ndarray, last: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted union of the strictly increasing ``a``, ``b`` (all < ``last``) plus ``last``.

    Also returns, for each end, how many elements of ``a`` and of ``b`` lie strictly below
    it: the index of the bid and of the offer that serve the segment ending there.
    """
    at = np.searchsorted(a, b)
    dup = at < a.size
    dup[dup] = a[at[dup]] == b[dup]
    a_dup = np.zeros(a.size, dtype=bool)
    a_dup[at[dup]] = True
    b_new = ~dup
    where_b = at[b_new] + np.arange(int(b_new.sum()))
    from_a = np.ones(a.size + where_b.size, dtype=bool)
    from_a[where_b] = False
    ends = np.empty(from_a.size + 1, dtype=np.int64)
    ends[:-1][from_a] = a
    ends[:-1][where_b] = b[b_new]
    ends[-1] = last
    counts_b = ~from_a
    counts_b[from_a] = a_dup
    a_below = np.concatenate(([0], np.cumsum(from_a)))
    b_below = np.concatenate(([0], np.cumsum(counts_b)))
    return ends, a_below, b_below


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
