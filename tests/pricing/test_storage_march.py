"""The compiled storage march against the generic numpy θ-scheme, and the bare-solve floor.

The reference is :func:`pricing.hjb.solve_backward` (vectorised numpy, the solver the
closed-form convergence tests verify) driven by the storage policy written here as a
numpy closure: the same scheme in another implementation, so the two agree to rounding,
solve for solve (the Markov-chain oracle in test_storage_oracle.py checks the scheme).
"""

from __future__ import annotations

import numpy as np
import pytest

from bench.benchmarks.pricing import day_forecast
from pricing import Forecast, StorageModel, solve_storage
from pricing.hjb import Policy, solve_backward
from pricing.storage_march import bare_solves


def _numpy_policy(model: StorageModel, forecast: Forecast, nodes: int) -> Policy:
    k, wear, limit = model.import_slope_wei_per_wh_per_w, model.wear_wei_per_wh, model.power_limit_w
    low = np.full(nodes, -limit)
    high = np.full(nodes, limit)
    low[0] = high[-1] = 0.0
    m = model.substeps_for(forecast.step_h)

    def policy(sub: int, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        load = forecast.net_load_w[sub // m]
        price = forecast.supply_price_wei_per_wh[sub // m]
        z = grad + price + k * load
        u = np.clip(-(z - np.clip(z, -wear, wear)) / k, low, high)
        g = u + load
        return u, price * g + 0.5 * k * g * g + wear * np.abs(u)

    return policy


def _reference(model: StorageModel, forecast: Forecast, tol: float) -> tuple[np.ndarray, ...]:
    soc = np.linspace(0.0, model.capacity_wh, model.soc_nodes)
    m, steps = model.substeps_for(forecast.step_h), forecast.net_load_w.size
    cap, noise = model.capacity_wh, model.soc_noise_wh_per_sqrt_h
    fine = solve_backward(
        soc,
        (forecast.step_h / m) * np.arange(steps * m + 1),
        -model.terminal_value_wei_per_wh * soc,
        2.0 * noise**2 * soc * (cap - soc) / cap**2,
        _numpy_policy(model, forecast, soc.size),
        tol=tol,
        coefficient_group=np.arange(steps * m) // m,
    )
    return fine.value[::m], fine.drift[::m], fine.iterations.reshape(steps, m).sum(axis=1)


@pytest.mark.parametrize(
    ("nodes", "substeps", "shift_w", "tol"),
    [
        (101, None, 0.0, 2e-2),  # production: Crank–Nicolson, monotone at every node
        (101, None, 1500.0, 1e-9),  # several solves per step
        (401, 1, 0.0, 2e-2),  # one step per interval: the fully implicit fallback acts
        (41, 2, -1500.0, 2e-2),
    ],
)
def test_compiled_march_is_the_numpy_scheme(
    nodes: int, substeps: int | None, shift_w: float, tol: float
) -> None:
    model = StorageModel(soc_nodes=nodes, substeps=substeps)
    forecast = day_forecast(load_shift_w=shift_w)
    value, drift, iterations = _reference(model, forecast, tol)
    fast = solve_storage(model, forecast, tol=tol).solution
    assert fast.iterations.tolist() == iterations.tolist()
    assert np.abs(fast.value - value).max() <= 1e-6 * np.abs(value).max()  # wei
    assert np.abs(fast.drift - drift).max() <= 1e-6  # W
    assert fast.t.tolist() == pytest.approx((0.25 * np.arange(97)).tolist())


def test_floor_solves_cleanly() -> None:
    assert bare_solves(101, 3) == 0
