"""Demand and supply step curves of an order book, shaped for plotting.

Each curve is ``(energy_wh, price_wei_per_wh)``: ``energy_wh`` is float64 of shape
``(n + 1,)``, the cumulative energy at the step edges starting at 0; ``price_wei_per_wh``
is int64 of shape ``(n,)``, the price level of each step. Adjacent orders at the same
price are merged into one step. This is exactly what
``PlotDataItem.setData(energy_wh, price, stepMode="center")`` expects in pyqtgraph.
Demand (bids) is sorted by price descending, supply (offers) ascending; an empty side
gives ``([0.0], [])``.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from pricing.book import Order, OrderArrays


def _curve(book: OrderArrays, bids: bool) -> tuple[np.ndarray, np.ndarray]:
    rows = book.priority(bids=bids)
    price = book.price_wei_per_wh[rows]
    cum = np.cumsum(book.energy_wh[rows])
    if price.size:
        last_of_level = np.flatnonzero(np.diff(price) != 0)
        keep = np.append(last_of_level, price.size - 1)
        price, cum = price[keep], cum[keep]
    edges = np.concatenate(([0.0], cum.astype(np.float64)))
    return edges, price.astype(np.int64)


def demand_curve(orders: Sequence[Order] | OrderArrays) -> tuple[np.ndarray, np.ndarray]:
    """The bids' step curve: edges ``(n+1,)`` Wh and levels ``(n,)`` wei/Wh, price falling."""
    return _curve(OrderArrays.of(orders), bids=True)


def supply_curve(orders: Sequence[Order] | OrderArrays) -> tuple[np.ndarray, np.ndarray]:
    """The offers' step curve: edges ``(n+1,)`` Wh and levels ``(n,)`` wei/Wh, price rising."""
    return _curve(OrderArrays.of(orders), bids=False)
