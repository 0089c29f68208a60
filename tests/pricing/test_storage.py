"""The storage HJB model: exact cases, monotonicity, limits, and input errors."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from bench.benchmarks.pricing import PDE_STEP_H as STEP_H
from bench.benchmarks.pricing import day_forecast
from pricing import Forecast, PricingError, PricingInputError, StorageModel, solve_storage


def test_flat_world_keeps_the_terminal_value_exactly() -> None:
    """Constant price and load, energy worth p + kL at the end: V stays linear, u = 0."""
    model = StorageModel(terminal_value_wei_per_wh=250.0 + 0.05 * 400.0)
    forecast = Forecast(STEP_H, np.full(96, 400.0), np.full(96, 250.0))
    value = solve_storage(model, forecast, tol=1e-12)
    for soc in (0.0, 1234.5, 5000.0, 10_000.0):
        assert value.scarcity_wei_per_wh(soc) == pytest.approx(270.0, abs=1e-6)
        assert value.charge_w(soc) == pytest.approx(0.0, abs=1e-6)


@pytest.mark.parametrize("nodes", [101, 401])
def test_scarcity_falls_as_the_store_fills(nodes: int) -> None:
    value = solve_storage(StorageModel(soc_nodes=nodes), day_forecast(load_shift_w=1500.0))
    lam = -value.solution.gradient(0)
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(lam.tolist()))
    assert lam[0] > lam[-1] + 1.0


def test_policy_iteration_that_does_not_settle_raises() -> None:
    with pytest.raises(PricingError, match="did not settle"):
        solve_storage(StorageModel(), day_forecast(), tol=1e-15, max_iter=1)


def test_more_future_demand_makes_energy_scarcer() -> None:
    base = solve_storage(StorageModel(), day_forecast())
    tight = solve_storage(StorageModel(), day_forecast(load_shift_w=1500.0))
    for soc in (1000.0, 5000.0, 9000.0):
        assert tight.scarcity_wei_per_wh(soc) > base.scarcity_wei_per_wh(soc)


def test_policy_respects_power_limit_and_boundaries() -> None:
    model = StorageModel(power_limit_w=1500.0)
    drift = solve_storage(model, day_forecast()).solution.drift
    assert np.abs(drift).max() <= 1500.0 + 1e-9
    assert (drift[:, 0] >= 0).all() and (drift[:, -1] <= 0).all()


def test_production_tolerance_is_close_to_a_tight_solve() -> None:
    fast = solve_storage(StorageModel(), day_forecast())
    tight = solve_storage(StorageModel(), day_forecast(), tol=1e-12)
    diff = np.abs(fast.solution.gradient(0) - tight.solution.gradient(0)).max()
    assert diff < 0.5  # wei/Wh, on a value of ~200


def test_persistence_forecast_without_a_day_of_history_holds_the_latest() -> None:
    forecast = Forecast.persistence([100.0, 200.0, 300.0], [250.0] * 5, STEP_H)
    assert forecast.net_load_w.tolist() == [300.0] * 5


def test_persistence_forecast_starts_with_the_coming_interval_a_day_earlier() -> None:
    """Step h (1 h steps): 24 + 3 recorded hours 0..26 (value = hour). The coming interval
    is hour 27, whose value a day earlier is hour 3; the horizon repeats that last day."""
    history = [float(h) for h in range(27)]
    forecast = Forecast.persistence(history, [250.0] * 26, 1.0)
    assert forecast.net_load_w.tolist()[:3] == [3.0, 4.0, 5.0]
    assert forecast.net_load_w.tolist()[20:26] == [23.0, 24.0, 25.0, 26.0, 3.0, 4.0]


def test_partial_day_of_history_uses_what_it_has_then_the_latest() -> None:
    # 4 steps a day (6 h); 6 recorded: the coming step's day-before is index 2
    forecast = Forecast.persistence([0.0, 1.0, 2.0, 3.0, 4.0, 5.0], [1.0] * 4, 6.0)
    assert forecast.net_load_w.tolist() == [2.0, 3.0, 4.0, 5.0]
    forecast = Forecast.persistence([7.0, 8.0], [1.0] * 4, 6.0)  # days-before at -2, -1
    assert forecast.net_load_w.tolist() == [8.0, 8.0, 7.0, 8.0]


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda: Forecast(0.25, np.ones(3), np.ones(4)), "equal length"),
        (lambda: Forecast(0.0, np.ones(3), np.ones(3)), "step_h"),
        (lambda: Forecast(0.25, np.array([1.0, np.nan]), np.ones(2)), "finite"),
        (lambda: StorageModel(capacity_wh=0), "capacity_wh"),
        (lambda: Forecast.persistence([], [1.0], 0.25), "no metered"),
    ],
)
def test_bad_inputs_say_what_to_fix(make, words: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(PricingInputError, match=words):
        make()


def test_soc_outside_the_store_is_refused() -> None:
    value = solve_storage(StorageModel(), day_forecast())
    with pytest.raises(PricingInputError, match="outside"):
        value.scarcity_wei_per_wh(12_000.0)


def test_advance_follows_the_policy_and_stays_in_the_store() -> None:
    value = solve_storage(StorageModel(), day_forecast())
    soc = 5000.0
    assert value.advance(soc, 0.25) == pytest.approx(soc + 0.25 * value.charge_w(soc))
    for start in (0.0, 5000.0, 10_000.0):  # a long step ends on the bound it heads for
        u = value.charge_w(start)
        bound = 10_000.0 if u > 0 else 0.0 if u < 0 else start
        assert value.advance(start, 100.0) == bound
