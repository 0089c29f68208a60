"""Pairs of matched bids and offers at a uniform price, in one compiled pass (numba).

The filled bids and the filled offers, each in its order, are laid along the energy axis;
every overlap of a bid's and an offer's stretch is a pair (at most ``bids + offers - 1``
of them). A pair whose bid and offer belong to one participant nets out instead. Cached
beside this module and loaded at import, like :mod:`pricing.storage_march`.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def pair_fills(
    bid_rows: np.ndarray,
    bid_fill: np.ndarray,
    offer_rows: np.ndarray,
    offer_fill: np.ndarray,
    participant: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """``(bid_row, offer_row, energy_wh, netted_wh)`` of the pairs between different
    participants, in energy-axis order; both sides must fill the same total (int64 Wh)."""
    size = bid_rows.size + offer_rows.size
    bid_out = np.empty(size, dtype=np.int64)
    offer_out = np.empty(size, dtype=np.int64)
    energy_out = np.empty(size, dtype=np.int64)
    count, netted = _pair(
        bid_rows, bid_fill, offer_rows, offer_fill, participant, bid_out, offer_out, energy_out
    )
    return bid_out[:count], offer_out[:count], energy_out[:count], int(netted)


@njit(cache=True, nogil=True)
def _pair(bid_rows, bid_fill, offer_rows, offer_fill, participant, bid_out, offer_out, energy_out):
    i = 0
    j = 0
    count = 0
    netted = 0
    bid_left = bid_fill[0] if bid_fill.size else 0
    offer_left = offer_fill[0] if offer_fill.size else 0
    while i < bid_fill.size and j < offer_fill.size:
        energy = min(bid_left, offer_left)
        bid, offer = bid_rows[i], offer_rows[j]
        if participant[bid] == participant[offer]:
            netted += energy
        elif energy > 0:
            bid_out[count] = bid
            offer_out[count] = offer
            energy_out[count] = energy
            count += 1
        bid_left -= energy
        offer_left -= energy
        if bid_left == 0:
            i += 1
            if i < bid_fill.size:
                bid_left = bid_fill[i]
        if offer_left == 0:
            j += 1
            if j < offer_fill.size:
                offer_left = offer_fill[j]
    return count, netted


def _load() -> None:
    """Compile the kernel, or load it from the cache, at import (not in an interval)."""
    one = np.ones(1, dtype=np.int64)
    pair_fills(one * 0, one, one * 0, one, np.arange(1, dtype=np.int64))


_load()
