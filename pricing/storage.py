"""The value of the microgrid's shared storage, from an HJB equation (see docs/pricing.md).

State: stored energy ``s`` in Wh on ``[0, capacity]``; control: charging power ``u`` in W
(negative = discharging), limited to ``±power_limit_w`` and to pointing inward at empty
and full. Over each forecast step (hours) the microgrid's net load ``L`` (demand minus PV,
W) and the external supply price ``p`` (wei/Wh) are constant. The grid connection then
supplies ``g = L + u`` W at cost rate ``p g + k g²/2 + w |u|`` wei/h (``k`` the import
slope, ``w`` the storage wear per Wh cycled), and forecast errors move the stored energy
like a diffusion with ``a(s) = 2 σ² s (S - s) / S²`` that vanishes at empty and full.
``V(t, s)`` (wei) is the least expected cost to the horizon, with the energy left at the
end worth ``terminal_value_wei_per_wh``; ``λ = -∂V/∂s`` is the scarcity value of energy.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pricing.errors import PricingError, PricingInputError
from pricing.hjb import HJBSolution
from pricing.storage_march import StorageCoefficients, march


@dataclass(frozen=True)
class StorageModel:
    """Physical and cost parameters of the shared storage (fixed for a bench run)."""

    capacity_wh: float = 10_000.0
    power_limit_w: float = 3_000.0
    import_slope_wei_per_wh_per_w: float = 0.05
    wear_wei_per_wh: float = 10.0
    soc_noise_wh_per_sqrt_h: float = 300.0
    terminal_value_wei_per_wh: float = 200.0
    soc_nodes: int = 101
    substeps: int | None = None
    """Time steps per forecast step; None: the fewest at which Crank–Nicolson is monotone
    at every node (:meth:`substeps_for`), so the fallback is only a safety net."""

    def __post_init__(self) -> None:
        positive = {
            "capacity_wh": self.capacity_wh,
            "power_limit_w": self.power_limit_w,
            "import_slope_wei_per_wh_per_w": self.import_slope_wei_per_wh_per_w,
        }
        for name, value in positive.items():
            if not value > 0:
                raise PricingInputError(f"{name} must be > 0, got {value}")
        if self.wear_wei_per_wh < 0 or self.soc_noise_wh_per_sqrt_h < 0:
            raise PricingInputError("wear_wei_per_wh and soc_noise_wh_per_sqrt_h must be ≥ 0")
        if self.soc_nodes < 5:
            raise PricingInputError(f"soc_nodes must be ≥ 5, got {self.soc_nodes}")
        if self.substeps is not None and self.substeps < 1:
            raise PricingInputError(f"substeps must be ≥ 1 or None, got {self.substeps}")

    def substeps_for(self, step_h: float) -> int:
        """Sub-steps per forecast step of ``step_h`` hours.

        Crank–Nicolson's explicit weight at a node is ``1 − Δt/2 (|u|/h + 2a/h²)`` at worst
        (upwinded drift), so ``Δt ≤ 2 / (ū/h + 2 a_max/h²)`` with ``a_max = σ²/2`` keeps it
        non-negative everywhere.
        """
        if self.substeps is not None:
            return self.substeps
        h = self.capacity_wh / (self.soc_nodes - 1)
        rate = self.power_limit_w / h + self.soc_noise_wh_per_sqrt_h**2 / h**2
        return max(1, math.ceil(0.5 * step_h * rate * (1.0 + 1e-12)))


@dataclass(frozen=True, eq=False)
class Forecast:
    """Net load (W) and external supply price (wei/Wh) for each step of ``step_h`` hours."""

    step_h: float
    net_load_w: np.ndarray
    supply_price_wei_per_wh: np.ndarray

    def __post_init__(self) -> None:
        if not self.step_h > 0:
            raise PricingInputError(f"step_h must be > 0, got {self.step_h}")
        load = np.asarray(self.net_load_w, dtype=np.float64)
        price = np.asarray(self.supply_price_wei_per_wh, dtype=np.float64)
        if load.ndim != 1 or load.size == 0 or price.shape != load.shape:
            raise PricingInputError(
                "net_load_w and supply_price_wei_per_wh must be 1-D, non-empty, equal length"
            )
        if not (np.isfinite(load).all() and np.isfinite(price).all()):
            raise PricingInputError("the forecast must be finite; fill gaps in the meter data")
        object.__setattr__(self, "net_load_w", load)
        object.__setattr__(self, "supply_price_wei_per_wh", price)

    @classmethod
    def persistence(
        cls,
        recent_net_load_w: Sequence[float],
        supply_price_wei_per_wh: Sequence[float],
        step_h: float,
    ) -> Forecast:
        """Seasonal-naive forecast from the metered history (oldest first, latest last).

        Step ``j`` (0 = the coming interval) takes the net load one day earlier at the same
        time of day, ``history[len - steps_per_day + j]``, where the history has it, else
        the latest recorded interval. ``supply_price_wei_per_wh`` gives the horizon.
        """
        history = np.asarray(recent_net_load_w, dtype=np.float64)
        price = np.asarray(supply_price_wei_per_wh, dtype=np.float64)
        if history.size == 0:
            raise PricingInputError("no metered net load yet: record at least one interval")
        if not step_h > 0:
            raise PricingInputError(f"step_h must be > 0, got {step_h}")
        per_day = max(1, round(24.0 / step_h))
        day_before = history.size - per_day + np.arange(price.size) % per_day
        known = (day_before >= 0) & (day_before < history.size)
        load = np.where(known, history[np.clip(day_before, 0, history.size - 1)], history[-1])
        return cls(step_h, load, price)


@dataclass(frozen=True, eq=False)
class StorageValue:
    """The solved value function and its scarcity value (wei/Wh) on the SoC grid."""

    model: StorageModel
    solution: HJBSolution

    def scarcity_wei_per_wh(self, soc_wh: float, step: int = 0) -> float:
        """``-∂V/∂s`` at time level ``step`` (0 = now), linearly interpolated in SoC."""
        if not 0.0 <= soc_wh <= self.model.capacity_wh:
            raise PricingInputError(
                f"soc_wh={soc_wh} is outside [0, {self.model.capacity_wh}]; check the meter data"
            )
        grad = self.solution.gradient(step)
        return float(-np.interp(soc_wh, self.solution.x, grad))

    def charge_w(self, soc_wh: float, step: int = 0) -> float:
        """The optimal charging power (W, negative = discharge) over step ``step``."""
        return float(np.interp(soc_wh, self.solution.x, self.solution.drift[step]))

    def advance(self, soc_wh: float, hours: float) -> float:
        """Stored energy after running the optimal power for ``hours`` (a simulated store)."""
        charged = soc_wh + self.charge_w(soc_wh) * hours
        return min(max(charged, 0.0), self.model.capacity_wh)


def solve_storage(
    model: StorageModel, forecast: Forecast, *, tol: float = 2e-2, max_iter: int = 30
) -> StorageValue:
    """Re-solve the storage HJB over the forecast horizon (monotone Crank–Nicolson: fully
    implicit wherever the Crank–Nicolson stencil is not monotone; policy iteration), with
    ``model.substeps_for(step_h)`` time steps per forecast step. The solution keeps the
    forecast steps' time levels; ``iterations[n]`` counts the tridiagonal solves of
    forecast step n.

    ``tol`` is the policy-iteration tolerance relative to the largest charging power: the
    default settles the policy to 2 % of the power limit, which moves the scarcity value by
    a few hundredths of a wei/Wh (``gridbench price bench`` reports it against ``tol=1e-12``).
    """
    soc = np.linspace(0.0, model.capacity_wh, model.soc_nodes)
    h = float(soc[1] - soc[0])
    m, steps = model.substeps_for(forecast.step_h), forecast.net_load_w.size
    diffusion = 2.0 * model.soc_noise_wh_per_sqrt_h**2 * soc * (model.capacity_wh - soc)
    coefficients = StorageCoefficients(
        h=h,
        diffusion_h2=diffusion / model.capacity_wh**2 / h**2,
        terminal_wei=-model.terminal_value_wei_per_wh * soc,
        net_load_w=forecast.net_load_w,
        price_wei_per_wh=forecast.supply_price_wei_per_wh,
        import_slope=model.import_slope_wei_per_wh_per_w,
        wear_wei_per_wh=model.wear_wei_per_wh,
        power_limit_w=model.power_limit_w,
    )
    result = march(coefficients, m, forecast.step_h / m, tol, max_iter)
    if result.lapack_info:
        raise PricingInputError(f"tridiagonal solve failed (LAPACK info={result.lapack_info})")
    if result.failed_step >= 0:
        raise PricingError(
            f"policy iteration did not settle at time step {result.failed_step} after "
            f"{max_iter} solves (control still moving by {result.change:.3g}, tolerance "
            f"{result.settled:.3g}); raise max_iter or tol, or refine the time grid"
        )
    solution = HJBSolution(
        x=soc,
        t=forecast.step_h * np.arange(steps + 1),
        value=result.value,
        drift=result.drift,
        iterations=result.iterations.reshape(steps, m).sum(axis=1),
    )
    return StorageValue(model, solution)
