"""The instantaneous price and the per-interval entry point."""

from __future__ import annotations

import pytest

from bench.benchmarks.pricing import day_forecast
from pricing import (
    Charges,
    Order,
    PricingInputError,
    Side,
    StorageModel,
    instantaneous_price,
    price_interval,
    solve_storage,
)

CHARGES = Charges(production_cost_wei_per_wh=60.0, network_wei_per_wh=20.0, tax_rate=0.05)


def test_components_add_up_and_follow_the_largest_energy_value() -> None:
    price = instantaneous_price(275, 300.0, CHARGES)
    parts = price.as_dict()
    assert parts["production_cost"] == 60.0
    assert parts["market"] == 215.0
    assert parts["scarcity"] == 25.0
    assert parts["tax"] == pytest.approx(0.05 * (300.0 + 20.0))
    assert parts["total"] == pytest.approx(60.0 + 215.0 + 25.0 + 20.0 + 16.0)
    assert list(parts) == ["production_cost", "market", "scarcity", "network", "tax", "total"]


def test_no_crossing_and_low_scarcity_fall_back_to_the_floor() -> None:
    price = instantaneous_price(None, 10.0, CHARGES)
    assert (price.market_wei_per_wh, price.scarcity_wei_per_wh) == (0.0, 0.0)
    assert price.total_wei_per_wh == pytest.approx((60.0 + 20.0) * 1.05)


def test_bad_tax_rate_is_refused() -> None:
    with pytest.raises(PricingInputError, match="tax_rate"):
        Charges(tax_rate=1.5)


def test_price_interval_ties_the_pieces_together() -> None:
    orders = [
        Order("a", Side.BID, 10, 300),
        Order("b", Side.BID, 5, 200),
        Order("c", Side.OFFER, 8, 100),
        Order("d", Side.OFFER, 10, 250),
    ]
    model = StorageModel()
    result = price_interval(
        orders, soc_wh=4000.0, forecast=day_forecast(), model=model, charges=CHARGES
    )
    # c's 8 Wh and 2 Wh of d meet a's bid; d (partly filled) and b (left out) pin it at 250
    assert (result.clearing.volume_wh, result.clearing.price_wei_per_wh) == (10, 250)
    x, y = result.demand
    assert x.tolist() == [0.0, 10.0, 15.0] and y.tolist() == [300, 200]
    assert result.supply[0].tolist() == [0.0, 8.0, 18.0]
    lam = solve_storage(model, day_forecast()).scarcity_wei_per_wh(4000.0)
    assert result.price == instantaneous_price(250, lam, CHARGES)
