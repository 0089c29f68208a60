"""The grid counterparty, bidding strategies, demand response and the battery setpoint."""

from __future__ import annotations

import numpy as np
import pytest

from pricing import (
    Forecast,
    Order,
    PricingInputError,
    Side,
    StorageModel,
    pay_as_clear,
    solve_storage,
)
from pricing.battery import Battery
from pricing.demand import ConstantElasticity, shift_flexible_load
from pricing.grid import GridTariff
from pricing.strategies import (
    FixedStrategy,
    MarketView,
    SignalStrategy,
    TariffStrategy,
    ZIPStrategy,
)

TARIFF = GridTariff(((0.0, 200), (17.0, 300), (21.0, 200)), 80, 5000.0, 3000.0)
VIEW = MarketView(
    import_tariff_wei_per_wh=300.0, feed_in_tariff_wei_per_wh=100.0, forecast_price_wei_per_wh=240.0
)


class MidpointRng:
    """Draws the middle of every interval, so the ZIP update can be computed by hand."""

    def uniform(self, low: float, high: float) -> float:
        return (low + high) / 2.0


def test_grid_offers_at_the_time_of_use_tariff_and_bids_feed_in() -> None:
    assert TARIFF.orders(18.0, 0.25) == [
        Order("grid", Side.OFFER, 1250, 300),
        Order("grid", Side.BID, 750, 80),
    ]
    assert [TARIFF.import_tariff_wei_per_wh(h) for h in (0.0, 16.99, 17.0, 21.0, 41.0)] == [
        200, 200, 300, 200, 300,
    ]  # fmt: skip
    assert TARIFF.import_prices(16.5, 0.25, 4).tolist() == [200.0, 200.0, 300.0, 300.0]


def test_cleared_price_lies_between_the_tariffs() -> None:
    deficit = [Order("clinic", Side.BID, 900, 500), Order("pv", Side.OFFER, 200, 50)]
    surplus = [Order("clinic", Side.BID, 100, 500), Order("pv", Side.OFFER, 500, 10)]
    high = pay_as_clear(deficit + TARIFF.orders(18.0, 0.25))
    low = pay_as_clear(surplus + TARIFF.orders(12.0, 0.25))
    assert high.price_wei_per_wh == 300  # the grid's offer is marginal: the import tariff
    assert low.price_wei_per_wh == 80  # the grid's bid is marginal: the feed-in tariff
    # beyond the export limit (750 Wh) the surplus has no buyer: the price falls below feed-in
    curtailed = [Order("clinic", Side.BID, 100, 500), Order("pv", Side.OFFER, 900, 10)]
    assert pay_as_clear(curtailed + TARIFF.orders(12.0, 0.25)).price_wei_per_wh == 10


@pytest.mark.parametrize(
    "schedule", [((1.0, 200),), ((0.0, 200), (0.0, 300)), ((0.0, 50),), ((0.0, 200), (24.0, 1))]
)
def test_bad_tariff_schedules_are_refused(schedule: tuple[tuple[float, int], ...]) -> None:
    with pytest.raises(PricingInputError):
        GridTariff(schedule, 80, 1.0, 1.0)


def test_fixed_tariff_and_signal_prices() -> None:
    assert FixedStrategy(123).price_wei_per_wh(Side.BID, VIEW) == 123
    assert TariffStrategy(0.25).price_wei_per_wh(Side.OFFER, VIEW) == 150
    assert SignalStrategy(10.0).price_wei_per_wh(Side.BID, VIEW) == 250
    assert SignalStrategy(10.0).price_wei_per_wh(Side.OFFER, VIEW) == 230
    above = MarketView(300.0, 100.0, 900.0)
    assert SignalStrategy().price_wei_per_wh(Side.BID, above) == 300  # clipped to the tariff


def test_zip_seller_follows_cliffs_update_rule() -> None:
    """λ = 100 (feed-in), μ = 0.5 → p = 150. Clearing at 180 (traded): R = 1.025, A = 2.5,
    τ = 187, Δ = 0.3 · 37 = 11.1, Γ = 0.95 · 11.1 = 10.545, μ = 0.60545 → p = 161.
    Then 140 (not traded): τ = 0.975 · 140 − 2.5 = 134, Δ = −8.1,
    Γ = 0.05 · 10.545 − 0.95 · 8.1 = −7.16775, μ = 0.5383225 → p = 154."""
    zip_ = ZIPStrategy(margin=0.5, rng=MidpointRng())  # type: ignore[arg-type]
    assert zip_.price_wei_per_wh(Side.OFFER, VIEW) == 150
    zip_.observe(Side.OFFER, 150, 180)
    assert zip_.margin == pytest.approx(0.60545)
    assert zip_.price_wei_per_wh(Side.OFFER, VIEW) == 161
    zip_.observe(Side.OFFER, 161, 140)
    assert zip_.margin == pytest.approx(0.5383225)
    assert zip_.price_wei_per_wh(Side.OFFER, VIEW) == 154


def test_zip_buyer_raises_its_bid_after_missing_the_clearing() -> None:
    """λ = 300 (import), μ = −0.2 → p = 240 < q = 250: τ = 1.025 · 250 + 2.5 = 258.75,
    Δ = 5.625, Γ = 5.34375, μ = 245.34375 / 300 − 1 → p = 245."""
    zip_ = ZIPStrategy(margin=-0.2, rng=MidpointRng())  # type: ignore[arg-type]
    assert zip_.price_wei_per_wh(Side.BID, VIEW) == 240
    zip_.observe(Side.BID, 240, 250)
    assert zip_.margin == pytest.approx(245.34375 / 300.0 - 1.0)
    assert zip_.price_wei_per_wh(Side.BID, VIEW) == 245


def test_constant_elasticity() -> None:
    response = ConstantElasticity(elasticity=-0.5, reference_price_wei_per_wh=200.0)
    assert response.load_w(1000.0, 800.0) == pytest.approx(500.0)
    assert response.load_w(1000.0, 200.0) == pytest.approx(1000.0)
    assert response.load_w(1000.0, 0.0) == pytest.approx(2000.0)  # bounded by max_factor


def test_flexible_load_moves_to_the_cheapest_intervals_and_conserves_energy() -> None:
    energy = np.array([50.0, 100.0, 100.0, 100.0, 100.0, 70.0])
    price = np.array([10.0, 300.0, 100.0, 200.0, 100.0, 1.0])
    shifted = shift_flexible_load(energy, price, (1, 5), 250.0)
    assert shifted.tolist() == [50.0, 0.0, 250.0, 0.0, 150.0, 70.0]
    assert shifted.sum() == energy.sum()
    with pytest.raises(PricingInputError, match="does not fit"):
        shift_flexible_load(energy, price, (1, 3), 50.0)


def test_battery_round_trip_returns_eta_of_the_energy() -> None:
    battery = Battery(capacity_wh=2000.0, power_limit_w=1000.0, round_trip_efficiency=0.81)
    soc = battery.step(0.0, 1000.0, 1.0)
    assert soc == pytest.approx(900.0)
    assert battery.step(soc, -810.0, 1.0) == pytest.approx(0.0)


def test_battery_setpoint_follows_the_policy_within_its_limits() -> None:
    model = StorageModel(terminal_value_wei_per_wh=400.0)  # stored energy worth 2x the tariff
    value = solve_storage(model, Forecast(0.25, np.zeros(8), np.full(8, 200.0)))
    battery = Battery(
        capacity_wh=model.capacity_wh, power_limit_w=1000.0, round_trip_efficiency=0.81
    )
    assert value.charge_w(5000.0) > 1000.0
    assert battery.setpoint_w(value, 5000.0, 0.25) == 1000.0
    small = Battery(capacity_wh=5009.0, power_limit_w=1000.0, round_trip_efficiency=0.81)
    # room for 9 Wh = 0.9 · 10 Wh metered in 0.25 h: 40 W
    assert small.setpoint_w(value, 5000.0, 0.25) == pytest.approx(40.0)
    assert battery.setpoint_w(value, 0.0, 0.25) == 1000.0
