"""Pay-as-clear's compiled passes (numba): per-level energy totals, the fills at the
marginal levels with their welfare, and the pairs of matched bids and offers.

Pairs: the filled bids and the filled offers, each in its order, are laid along the
energy axis; every overlap of a bid's and an offer's stretch is a pair (at most
``bids + offers - 1`` of them). A pair whose bid and offer belong to one participant nets
out instead. Cached beside this module and loaded at import, like
:mod:`pricing.storage_march`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

_WELFARE_EXACT = float(2**62)
"""While the magnitudes of the welfare's terms sum (in float64) below this, the int64 sum
is exact."""


def level_energy(price: np.ndarray, is_bid: np.ndarray, energy: np.ndarray, low: int, span: int):
    """Energy per (side, price level), int64: offers at ``price - low`` in ``[0, span)``,
    bids at ``span + price - low``."""
    return _level_energy(price, is_bid, energy, low, span)


@njit(cache=True, nogil=True)
def _level_energy(price, is_bid, energy, low, span):
    hist = np.zeros(2 * span, dtype=np.int64)
    for row in range(price.size):
        hist[price[row] - low + (span if is_bid[row] else 0)] += energy[row]
    return hist


def level_fills(
    price: np.ndarray,
    is_bid: np.ndarray,
    energy: np.ndarray,
    time_s: np.ndarray,
    bid_level: int,
    bid_rest_wh: int,
    offer_level: int,
    offer_rest_wh: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """``(bid rows, bid fills, offer rows, offer fills)`` at marginal price levels
    (wei/Wh): bids priced above ``bid_level`` and offers below ``offer_level`` fill
    completely (input order), then ``*_rest_wh`` is filled at each marginal level by
    arrival time, then row."""
    return _level_fills(
        price, is_bid, energy, time_s, bid_level, bid_rest_wh, offer_level, offer_rest_wh
    )


_CLASS = np.array([2, 3, 4, 4, 1, 0], dtype=np.int64)
"""Row class by (is_bid, sign(price - marginal level) + 1): 0 a bid above its marginal
level, 1 a bid at it, 2 an offer below its level, 3 an offer at it, 4 left out."""


@njit(cache=True, nogil=True)
def _level_fills(price, is_bid, energy, time_s, bid_level, bid_rest, offer_level, offer_rest):
    n = price.size
    by_class = np.empty((5, n), dtype=np.int64)
    counts = np.zeros(5, dtype=np.int64)
    for row in range(n):  # branch-free: the sides and levels are unpredictable
        bid = is_bid[row]
        level = bid_level if bid else offer_level
        p = price[row]
        c = _CLASS[3 * bid + (p > level) - (p < level) + 1]
        by_class[c, counts[c]] = row
        counts[c] += 1
    bid_rows = np.concatenate((by_class[0, : counts[0]], by_class[1, : counts[1]]))
    offer_rows = np.concatenate((by_class[2, : counts[2]], by_class[3, : counts[3]]))
    bid_count, bid_fill = _margin(bid_rows, counts[0], energy, time_s, bid_rest)
    offer_count, offer_fill = _margin(offer_rows, counts[2], energy, time_s, offer_rest)
    return (
        bid_rows[:bid_count],
        bid_fill[:bid_count],
        offer_rows[:offer_count],
        offer_fill[:offer_count],
    )


@njit(cache=True, nogil=True)
def _margin(rows, full, energy, time_s, rest):
    """Fill ``rows[:full]`` completely and ``rest`` Wh of ``rows[full:]`` in arrival order
    (a stable sort by time, skipped when they all arrived at once); returns how many rows
    got energy and the fills (rows reordered in place)."""
    fill = np.empty(rows.size, dtype=np.int64)
    for i in range(full):
        fill[i] = energy[rows[i]]
    margin = rows[full:]
    if margin.size > 1:
        first = time_s[margin[0]]
        for row in margin:
            if time_s[row] != first:
                order = np.argsort(time_s[margin], kind="mergesort")
                rows[full:] = margin[order]
                break
    count = full
    for i in range(full, rows.size):
        if rest <= 0:
            break
        take = min(energy[rows[i]], rest)
        fill[i] = take
        rest -= take
        count += 1
    return count, fill


def pair_fills(
    bid_rows: np.ndarray,
    bid_fill: np.ndarray,
    offer_rows: np.ndarray,
    offer_fill: np.ndarray,
    participant: np.ndarray,
    price: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int, int | None]:
    """``(bid_row, offer_row, energy_wh, netted_wh, welfare_wei)``: the pairs between
    different participants in energy-axis order, the own energy netted out, and the
    allocation's welfare Σ energy · (bid price − offer price) over every overlap (None when
    an int64 sum could be inexact: the caller sums it in Python). Both sides must fill the
    same total (int64 Wh)."""
    size = bid_rows.size + offer_rows.size
    bid_out = np.empty(size, dtype=np.int64)
    offer_out = np.empty(size, dtype=np.int64)
    energy_out = np.empty(size, dtype=np.int64)
    count, netted, welfare, magnitude = _pair(
        bid_rows,
        bid_fill,
        offer_rows,
        offer_fill,
        participant,
        price,
        bid_out,
        offer_out,
        energy_out,
    )
    exact = magnitude < _WELFARE_EXACT
    return (
        bid_out[:count],
        offer_out[:count],
        energy_out[:count],
        int(netted),
        (int(welfare) if exact else None),
    )


@njit(cache=True, nogil=True)
def _pair(
    bid_rows, bid_fill, offer_rows, offer_fill, participant, price, bid_out, offer_out, energy_out
):
    # a merge of the two sides' cumulative ends: each step ends at the nearer one and
    # moves past every side ending there; branch-free (which side ends first is
    # unpredictable), each step writes its pair at ``count`` and keeps it if it trades
    bid_end = np.cumsum(bid_fill)
    offer_end = np.cumsum(offer_fill)
    n_bids, n_offers = bid_end.size, offer_end.size
    i = j = count = netted = welfare = 0
    magnitude = 0.0
    start = 0
    while i < n_bids and j < n_offers:
        b_end, o_end = bid_end[i], offer_end[j]
        end = min(b_end, o_end)
        energy = end - start
        start = end
        bid, offer = bid_rows[i], offer_rows[j]
        gain = energy * (price[bid] - price[offer])
        welfare += gain
        magnitude += abs(gain)
        own = participant[bid] == participant[offer]
        netted += energy * own
        bid_out[count] = bid
        offer_out[count] = offer
        energy_out[count] = energy
        count += (not own) & (energy > 0)
        i += b_end == end
        j += o_end == end
    return count, netted, welfare, magnitude


def _load() -> None:
    """Compile the kernels, or load them from the cache, at import (not in an interval)."""
    one = np.ones(1, dtype=np.int64)
    pair_fills(one * 0, one, one * 0, one, one * 0, one)
    side = np.array([True, False])
    two = np.ones(2, dtype=np.int64)
    level_energy(two, side, two, 1, 1)
    level_fills(two, side, two, np.zeros(2), 1, 1, 1, 1)
    level_fills(two, side, two, np.arange(2.0), 1, 1, 1, 1)


_load()
