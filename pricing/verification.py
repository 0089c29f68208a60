"""Closed-form solutions that the HJB solver is verified against, and convergence studies.

* Linear-quadratic control (a special case of the storage HJB with no power limit, no
  wear cost, constant diffusion on the whole line): the value is quadratic in the state
  of charge with Riccati coefficients, derived in ``docs/pricing.md``.
* Lucia–Schwartz (2002) one-factor forward price: the log spot price is an
  Ornstein–Uhlenbeck process, so the forward ``E[exp(X_T) | X_t = x]`` solves the backward
  Kolmogorov equation with a state-dependent drift and is log-normal in closed form.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricing.hjb import HJBSolution, solve_backward


@dataclass(frozen=True)
class LQCase:
    """``-V_t = min_g [p g + k g²/2 + (g - L) V_s] + a V_ss``, ``V(T) = q (s - s_ref)²/2``.

    ``g`` is the grid import (W), ``u = g - L`` the charging power; ``t`` in hours.
    """

    price_wei_per_wh: float = 250.0
    slope_wei_per_wh_per_w: float = 0.5
    net_load_w: float = 400.0
    diffusion_wh2_per_h: float = 1.2e5
    terminal_weight_wei_per_wh2: float = 0.09
    soc_ref_wh: float = 10000.0
    horizon_h: float = 24.0
    soc_low_wh: float = 0.0
    soc_high_wh: float = 10000.0

    def exact(self, t_h: np.ndarray | float, soc_wh: np.ndarray) -> np.ndarray:
        """The analytic V(t, s) in wei."""
        p, k, load = self.price_wei_per_wh, self.slope_wei_per_wh_per_w, self.net_load_w
        q, sr, horizon = self.terminal_weight_wei_per_wh2, self.soc_ref_wh, self.horizon_h
        theta = horizon + k / q
        rest = theta - np.asarray(t_h, dtype=np.float64)
        a = k / (2.0 * rest)
        g_end = p - q * sr + k * load
        gamma = g_end * (theta - horizon) / rest
        b = gamma - p - k * load
        c = (
            q * sr**2 / 2.0
            - g_end**2 * (theta - horizon) ** 2 / (2.0 * k) * (1.0 / (theta - horizon) - 1.0 / rest)
            + (k * load**2 / 2.0 + load * p) * (horizon - np.asarray(t_h))
            + self.diffusion_wh2_per_h * k * np.log(rest / (theta - horizon))
        )
        return a * soc_wh**2 + b * soc_wh + c

    def policy(self) -> tuple[float, float, float]:
        """(p, k, L) for the policy of the solver."""
        return self.price_wei_per_wh, self.slope_wei_per_wh_per_w, self.net_load_w

    def solve(self, nodes: int, steps: int, theta: float = 0.5) -> HJBSolution:
        """Solve on ``nodes`` state points and ``steps`` time steps with Dirichlet ends."""
        p, k, load = self.policy()
        x = np.linspace(self.soc_low_wh, self.soc_high_wh, nodes)
        t = np.linspace(0.0, self.horizon_h, steps + 1)

        def policy(step: int, grad: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            imports = -(p + grad) / k
            return imports - load, p * imports + 0.5 * k * imports**2

        ends = np.array([self.exact(tt, x[[0, -1]]) for tt in t])
        return solve_backward(
            x,
            t,
            self.exact(self.horizon_h, x),
            np.full(nodes, self.diffusion_wh2_per_h),
            policy,
            dirichlet=ends,
            theta=theta,
            monotone=False,  # measures Crank–Nicolson itself (smooth, closed-form cases)
            tol=1e-8,  # round-off keeps the control moving by ~1e-12 relative below that
        )


@dataclass(frozen=True)
class LuciaSchwartzCase:
    """``dX = κ(α - X) dt + σ dW`` (X = log price); forward ``F = E[exp(X_T) | X_t = x]``."""

    kappa_per_h: float = 0.8
    alpha: float = np.log(250.0)
    sigma_per_sqrt_h: float = 0.5
    horizon_h: float = 6.0
    half_width: float = 2.0

    def exact(self, t_h: np.ndarray | float, x: np.ndarray) -> np.ndarray:
        """The analytic forward price (same unit as ``exp(x)``)."""
        tau = self.horizon_h - np.asarray(t_h, dtype=np.float64)
        decay = np.exp(-self.kappa_per_h * tau)
        var = self.sigma_per_sqrt_h**2 / (2.0 * self.kappa_per_h) * (1.0 - decay**2)
        return np.exp(x * decay + self.alpha * (1.0 - decay) + var / 2.0)

    def solve(self, nodes: int, steps: int, theta: float = 0.5) -> HJBSolution:
        """Solve the backward Kolmogorov equation (no control) with Dirichlet ends."""
        x = np.linspace(self.alpha - self.half_width, self.alpha + self.half_width, nodes)
        t = np.linspace(0.0, self.horizon_h, steps + 1)
        drift = self.kappa_per_h * (self.alpha - x)
        zero = np.zeros(nodes)
        ends = np.array([self.exact(tt, x[[0, -1]]) for tt in t])
        return solve_backward(
            x,
            t,
            np.exp(x),
            np.full(nodes, self.sigma_per_sqrt_h**2 / 2.0),
            lambda step, grad: (drift, zero),
            dirichlet=ends,
            theta=theta,
            monotone=False,  # measures Crank–Nicolson itself (smooth, closed-form cases)
        )


@dataclass(frozen=True)
class ConvergenceRow:
    """One refinement level: grid, max error at t = 0 and the observed order vs the previous."""

    nodes: int
    steps: int
    max_error: float
    order: float | None


def convergence(
    case: LQCase | LuciaSchwartzCase,
    levels: int = 4,
    nodes: int = 41,
    steps: int = 12,
    theta: float = 0.5,
) -> list[ConvergenceRow]:
    """Refine space and time together by 2 per level; order = log2(error ratio)."""
    rows: list[ConvergenceRow] = []
    for level in range(levels):
        n_x = (nodes - 1) * 2**level + 1
        n_t = steps * 2**level
        sol = case.solve(n_x, n_t, theta)
        exact = case.exact(0.0, sol.x)
        err = float(np.max(np.abs(sol.value[0] - exact)))
        order = None if not rows else float(np.log2(rows[-1].max_error / err))
        rows.append(ConvergenceRow(n_x, n_t, err, order))
    return rows
