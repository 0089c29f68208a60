"""One market interval end to end: curves, clearing, storage re-solve and the price."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pricing.book import Clearing, Order, OrderArrays
from pricing.clearing import Mechanism, pay_as_clear
from pricing.curves import demand_curve, supply_curve
from pricing.price import Charges, PriceBreakdown, instantaneous_price
from pricing.storage import Forecast, StorageModel, StorageValue, solve_storage


@dataclass(frozen=True, eq=False)
class IntervalPricing:
    """What the panel shows for one interval.

    ``demand``/``supply`` are ``(edges_wh (n+1,), levels_wei_per_wh (n,))`` step curves;
    ``clearing`` comes from the interval's mechanism; ``price`` is the instantaneous price
    and its components.
    """

    clearing: Clearing
    demand: tuple[np.ndarray, np.ndarray]
    supply: tuple[np.ndarray, np.ndarray]
    price: PriceBreakdown
    storage: StorageValue


def price_interval(
    orders: Sequence[Order],
    *,
    soc_wh: float,
    forecast: Forecast,
    model: StorageModel,
    charges: Charges,
    mechanism: Mechanism = pay_as_clear,
) -> IntervalPricing:
    """Clear the book with ``mechanism`` (pay-as-clear by default), re-solve the storage HJB
    from the latest forecast and compose the price."""
    book = OrderArrays.from_orders(orders)
    clearing = mechanism(book)
    storage = solve_storage(model, forecast)
    price = instantaneous_price(
        clearing.price_wei_per_wh, storage.scarcity_wei_per_wh(soc_wh), charges
    )
    return IntervalPricing(clearing, demand_curve(book), supply_curve(book), price, storage)
