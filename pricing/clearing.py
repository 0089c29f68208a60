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
more than its limit and no matched seller gets less than its limit. Priority decides
which orders at the marginal levels are (partly) filled. Matched pairs are the overlaps
of the matched bids' and offers' intervals laid along the energy axis (fully filled
orders first, marginal ones last); at a uniform price the pairing does not change what
anyone pays or receives.

Pay-as-bid (continuous double auction). Orders arrive in time order; after each arrival
time the resting book is matched while the best bid crosses the best offer, and each
pair trades at the bid's price. With one arrival time this is the pay-as-clear volume.

Pay-as-offer (one-sided). Only sellers post prices; each buyer, in arrival order, takes
the cheapest offers present at its arrival time whose price is at most its limit, pays
the offer's price, and leaves with what it got (buyers do not rest in the book).
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence

import numpy as np

from pricing.book import Clearing, Order, OrderArrays
from pricing.errors import PricingInputError
from pricing.matching import Matching, empty_matching


def clear_uniform(book: OrderArrays, method: str = "auto") -> Matching:
    """Pay-as-clear on numpy columns.

    ``method="levels"`` finds the volume and the marginal price levels from per-level energy
    histograms (``np.bincount``, O(n + price span)) and sorts only the orders at the two
    marginal levels; ``"sort"`` sorts both sides by priority (O(n log n)); ``"auto"`` takes
    ``"levels"`` when the price span is at most ``4 n + 1024`` and every partial sum is
    exact in float64 (side totals below 2**53 Wh). Volume, price, fills and welfare are
    identical; the pairing of matched orders may differ (irrelevant at a uniform price).
    """
    if method not in ("auto", "levels", "sort"):
        raise PricingInputError(f"method must be 'auto', 'levels' or 'sort', got {method!r}")
    n = len(book)
    n_bids = int(np.count_nonzero(book.is_bid))
    if n_bids == 0 or n_bids == n:
        return empty_matching("pay_as_clear")
    exact = float(book.energy_wh.sum(dtype=np.float64)) < 2**53
    if method == "auto":
        span = int(book.price_wei_per_wh.max()) - int(book.price_wei_per_wh.min()) + 1
        method = "levels" if exact and span <= 4 * n + 1024 else "sort"
    elif method == "levels" and not exact:
        raise PricingInputError("method='levels' needs less than 2**53 Wh in the book; use 'sort'")
    found = _fills_by_levels(book) if method == "levels" else _fills_by_sorting(book)
    if found is None:
        return empty_matching("pay_as_clear")
    price, bid_rows, bid_fill, offer_rows, offer_fill = found
    ends, bid_index, offer_index = _merge_ends(
        np.cumsum(bid_fill[:-1]), np.cumsum(offer_fill[:-1]), int(bid_fill.sum())
    )
    energy = np.diff(ends, prepend=0)
    prices = np.full(energy.shape, price, dtype=np.int64)
    return Matching.build(
        "pay_as_clear",
        book,
        bid_rows[bid_index],
        offer_rows[offer_index],
        energy,
        prices,
        price,
    )


_Fills = tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _fills_by_sorting(book: OrderArrays) -> _Fills | None:
    """(price, bid rows, bid fills, offer rows, offer fills) from fully sorted sides."""
    bids = book.priority(bids=True)
    offers = book.priority(bids=False)
    bid_price = book.price_wei_per_wh[bids]
    offer_price = book.price_wei_per_wh[offers]
    bid_cum = np.cumsum(book.energy_wh[bids])
    offer_cum = np.cumsum(book.energy_wh[offers])
    volume = _crossing_volume(bid_price, bid_cum, offer_price, offer_cum)
    if volume == 0:
        return None
    mb = int(np.searchsorted(bid_cum, volume, side="left"))
    mo = int(np.searchsorted(offer_cum, volume, side="left"))
    price = (int(bid_price[mb]) + int(offer_price[mo])) // 2
    bid_fill = np.diff(bid_cum[: mb + 1], prepend=0)
    bid_fill[-1] -= int(bid_cum[mb]) - volume
    offer_fill = np.diff(offer_cum[: mo + 1], prepend=0)
    offer_fill[-1] -= int(offer_cum[mo]) - volume
    return price, bids[: mb + 1], bid_fill, offers[: mo + 1], offer_fill


def _fills_by_levels(book: OrderArrays) -> _Fills | None:
    """The same result from per-price-level energy totals, sorting only the marginal levels.

    ``D[l]`` is the bid energy priced at level ≥ l, ``S[l]`` the offer energy priced ≤ l; the
    cleared volume is ``max_l min(D[l], S[l])`` (every unit up to it crosses). The marginal
    bid level is the highest with ``D ≥ Q``, the marginal offer level the lowest with
    ``S ≥ Q``; orders strictly inside them fill completely, and the rest of ``Q`` is filled
    at each marginal level in priority order (time, then input order).
    """
    low = int(book.price_wei_per_wh.min())
    span = int(book.price_wei_per_wh.max()) - low + 1
    # one index per (side, level): offers in [0, span), bids in [span, 2 span)
    slot = book.price_wei_per_wh + (book.is_bid * span - low)
    hist = np.bincount(slot, weights=book.energy_wh, minlength=2 * span)
    demand = np.cumsum(hist[: span - 1 : -1])[::-1]
    supply = np.cumsum(hist[:span])
    volume = int(np.minimum(demand, supply).max())
    if volume == 0:
        return None
    bid_level = int(np.searchsorted(-demand, -volume, side="right")) - 1
    offer_level = int(np.searchsorted(supply, volume, side="left"))
    above = int(demand[bid_level + 1]) if bid_level + 1 < span else 0
    below = int(supply[offer_level - 1]) if offer_level > 0 else 0
    bid_rows, bid_fill = _side_fills(
        book, slot > span + bid_level, slot == span + bid_level, volume - above, bids=True
    )
    offer_rows, offer_fill = _side_fills(
        book, slot < offer_level, slot == offer_level, volume - below, bids=False
    )
    return (bid_level + offer_level) // 2 + low, bid_rows, bid_fill, offer_rows, offer_fill


def _side_fills(
    book: OrderArrays, full: np.ndarray, marginal: np.ndarray, rest: int, *, bids: bool
) -> tuple[np.ndarray, np.ndarray]:
    """Rows and fills: every ``full`` row in input order, then ``rest`` Wh at the margin."""
    full_rows = np.flatnonzero(full)
    at_margin = book.priority_of(np.flatnonzero(marginal), bids=bids)
    energy = book.energy_wh[at_margin]
    before = np.cumsum(energy) - energy
    take = np.minimum(energy, rest - before)
    keep = take > 0
    rows = np.concatenate((full_rows, at_margin[keep]))
    return rows, np.concatenate((book.energy_wh[full_rows], take[keep]))


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
    it: the index of the bid and of the offer that serve the segment ending there. A stable
    sort of the two concatenated runs is a linear-time merge (timsort); an element of ``b``
    equal to one of ``a`` lands right after it and is dropped.
    """
    joined = np.concatenate((a, b, [last]))
    order = np.argsort(joined, kind="stable")
    ends = joined[order]
    from_a = order < a.size
    a_below: np.ndarray = np.cumsum(from_a) - from_a
    b_below = np.arange(ends.size) - a_below
    keep = np.empty(ends.size, dtype=bool)
    keep[:1] = True
    np.not_equal(ends[1:], ends[:-1], out=keep[1:])
    return ends[keep], a_below[keep], b_below[keep]


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


def pay_as_clear(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """Two-sided uniform-price clearing; ``Clearing.price_wei_per_wh`` is the uniform price."""
    book = OrderArrays.of(orders)
    return clear_uniform(book).to_clearing(book)


def pay_as_bid(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """Two-sided continuous matching; each pair trades at the bid's price (no single price)."""
    book = OrderArrays.of(orders)
    return match_continuous(book, one_sided=False).to_clearing(book)


def pay_as_offer(orders: Sequence[Order] | OrderArrays) -> Clearing:
    """One-sided market; buyers take offers at the offer's price (no single price)."""
    book = OrderArrays.of(orders)
    return match_continuous(book, one_sided=True).to_clearing(book)


Mechanism = Callable[[Sequence[Order] | OrderArrays], Clearing]

MECHANISMS: dict[str, Mechanism] = {
    "pay_as_clear": pay_as_clear,
    "pay_as_bid": pay_as_bid,
    "pay_as_offer": pay_as_offer,
}
"""Every clearing mechanism by the name ``Clearing.mechanism`` carries."""
