"""An independent solver for the storage HJB: a Markov-chain approximation (Kushner–Dupuis).

A different algorithm from ``pricing.hjb``: explicit value iteration of a controlled
random walk on a fine SoC grid, with sub-steps small enough that every transition
probability is non-negative (so the scheme is monotone by construction), one-sided
differences chosen by the sign of the control, and the pointwise minimum taken by
comparing the best charging and the best discharging power (no soft-threshold formula).
"""

from __future__ import annotations

import math

import numpy as np

from pricing import Forecast, StorageModel


def markov_chain_value(
    model: StorageModel, forecast: Forecast, nodes: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(soc_wh, V(0, soc))`` on ``nodes`` equally spaced states."""
    cap, k, wear = model.capacity_wh, model.import_slope_wei_per_wh_per_w, model.wear_wei_per_wh
    soc = np.linspace(0.0, cap, nodes)
    h = cap / (nodes - 1)
    a = 2.0 * model.soc_noise_wh_per_sqrt_h**2 * soc * (cap - soc) / cap**2
    up_limit = np.full(nodes, model.power_limit_w)
    up_limit[-1] = 0.0
    down_limit = np.full(nodes, -model.power_limit_w)
    down_limit[0] = 0.0
    rate = float((2.0 * a / h**2 + model.power_limit_w / h).max())
    value = -model.terminal_value_wei_per_wh * soc
    for n in range(forecast.net_load_w.size - 1, -1, -1):
        load, price = float(forecast.net_load_w[n]), float(forecast.supply_price_wei_per_wh[n])
        substeps = math.ceil(forecast.step_h * rate / 0.9)
        dt = forecast.step_h / substeps
        for _ in range(substeps):
            ahead = np.append(np.diff(value) / h, 0.0)  # (V[i+1] - V[i]) / h
            behind = np.insert(np.diff(value) / h, 0, 0.0)  # (V[i] - V[i-1]) / h
            best = np.full(nodes, np.inf)
            for slope, sign, lo, hi in (
                (ahead, 1.0, 0.0, up_limit),
                (behind, -1.0, down_limit, 0.0),
            ):
                u = np.clip(-(price + k * load + sign * wear + slope) / k, lo, hi)
                grid = load + u
                best = np.minimum(
                    best, price * grid + 0.5 * k * grid**2 + wear * np.abs(u) + u * slope
                )
            curvature = np.zeros(nodes)
            curvature[1:-1] = value[2:] - 2.0 * value[1:-1] + value[:-2]
            value = value + dt * (a * curvature / h**2 + best)
    return soc, value


def markov_chain_scarcity(
    model: StorageModel, forecast: Forecast, nodes: int, at: np.ndarray
) -> np.ndarray:
    """λ(0, s) = −∂V/∂s of the Markov-chain value at the states ``at`` (central differences
    on the fine grid, one-sided at the ends, linearly interpolated)."""
    soc, value = markov_chain_value(model, forecast, nodes)
    return -np.interp(at, soc, np.gradient(value, soc, edge_order=2))
