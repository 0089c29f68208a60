"""A one-dimensional controlled-diffusion HJB solver, backward in time.

Solves, on a uniform grid ``x_0 < … < x_N`` and time levels ``t_0 < … < t_M``::

    -V_t = min_u [ f(u) + b(u) V_x ] + a(x) V_xx,      V(t_M, x) = terminal(x)

where the caller's ``policy(step, grad) -> (drift, cost)`` returns, node by node, the
minimizing drift ``b`` and running cost ``f`` for the gradient ``grad ≈ V_x`` with the
coefficients of time step ``step`` (constant over the step). ``a = σ²/2`` is the diffusion.

Scheme (Forsyth & Labahn 2007): θ-method in time (θ = 1/2 is Crank–Nicolson, second
order; θ = 1 is fully implicit and monotone), policy iteration for the nonlinear
implicit part, central differences for the drift wherever they give a monotone
(M-matrix) stencil and upwind differences elsewhere. With ``monotone=True`` (default)
each node whose explicit Crank–Nicolson weight ``1 − (1 − θ) Δt (w₋ + w₊)`` would be
negative is stepped fully implicitly instead (θ = 1 at that node), so the scheme is
monotone at any grid and time step (Barles–Souganidis); where the stencil allows it, it
stays Crank–Nicolson. Each linear solve is tridiagonal (LAPACK ``gtsv``). Boundaries
are either Dirichlet (values given per time level) or natural: the diffusion must vanish
at the ends and the policy's drift point inward, so the
equation at an end is a one-sided (upwind) transport equation that needs no condition.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.linalg import lapack

from pricing.errors import PricingError, PricingInputError

Policy = Callable[[int, np.ndarray], tuple[np.ndarray, np.ndarray]]


@dataclass(frozen=True, eq=False)
class HJBSolution:
    """``value[n]`` is V at time ``t[n]`` on grid ``x``; ``drift[n]`` the policy over step n."""

    x: np.ndarray
    t: np.ndarray
    value: np.ndarray
    drift: np.ndarray
    iterations: np.ndarray

    def gradient(self, n: int = 0) -> np.ndarray:
        """V_x at time level ``n`` (second order, one-sided at the ends)."""
        return gradient(self.value[n], float(self.x[1] - self.x[0]))


def gradient(v: np.ndarray, h: float) -> np.ndarray:
    """Second-order finite-difference derivative of ``v`` on a uniform grid of step ``h``."""
    g = np.empty_like(v)
    inner = g[1:-1]
    np.subtract(v[2:], v[:-2], out=inner)
    inner *= 0.5 / h
    g[0] = (-3.0 * v[0] + 4.0 * v[1] - v[2]) * (0.5 / h)
    g[-1] = (3.0 * v[-1] - 4.0 * v[-2] + v[-3]) * (0.5 / h)
    return g


def _stencil(
    drift: np.ndarray, diff_h2: np.ndarray, h: float, natural: bool, scale: float | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``scale`` times the weights of V[i-1] (``lo``) and V[i+1] (``up``) at node i.

    Central: ``a/h² ∓ b/(2h)``. Where one of them would be negative, upwinding is used,
    which is the same as adding ``|b|/(2h)`` to both (artificial diffusion ``|b| h / 2``).
    At natural ends (no diffusion there) this is already the inward upwind difference;
    the outward weight, which has no neighbour, is dropped.
    """
    half = drift * (0.5 / h)
    extra = np.abs(half)
    extra *= extra > diff_h2
    extra += diff_h2
    lo = extra - half
    up = extra + half
    if natural:
        lo[0] = up[-1] = 0.0
    lo *= scale
    up *= scale
    return lo, up


def _apply(lo: np.ndarray, up: np.ndarray, v: np.ndarray) -> np.ndarray:
    out = -(lo + up) * v
    out[1:] += lo[1:] * v[:-1]
    out[:-1] += up[:-1] * v[1:]
    return out


def solve_backward(
    x: np.ndarray,
    t: np.ndarray,
    terminal: np.ndarray,
    diffusion: np.ndarray,
    policy: Policy,
    *,
    dirichlet: np.ndarray | None = None,
    theta: float = 0.5,
    monotone: bool = True,
    tol: float = 1e-9,
    max_iter: int = 30,
    coefficient_group: np.ndarray | None = None,
) -> HJBSolution:
    """March from ``t[-1]`` back to ``t[0]``; ``dirichlet`` is ``(len(t), 2)`` end values or None.

    Policy iteration at each step stops when the drift changes by at most
    ``tol * (1 + max|drift|)`` (the max taken at the start of the step); if it has not
    settled after ``max_iter`` solves, :class:`PricingError` is raised.
    ``HJBSolution.iterations[n]`` is the number of tridiagonal solves of step n.
    ``coefficient_group[n]`` (optional) labels steps whose policy coefficients are the same
    (sub-steps of one forecast step): the policy evaluated after a step's last solve is
    then reused as the next step's first.
    """
    x = np.asarray(x, dtype=np.float64)
    t = np.asarray(t, dtype=np.float64)
    n_x, n_t = x.size, t.size
    if n_x < 3 or n_t < 2:
        raise PricingInputError("need at least 3 grid nodes and 2 time levels")
    h = float(x[1] - x[0])
    if h <= 0 or not np.allclose(np.diff(x), h, rtol=1e-9, atol=0.0):
        raise PricingInputError("the state grid must be uniform and increasing")
    if np.any(np.diff(t) <= 0):
        raise PricingInputError("time levels must be strictly increasing")
    if not 0.5 <= theta <= 1.0:
        raise PricingInputError(f"theta must be in [0.5, 1] (0.5 = Crank–Nicolson), got {theta}")
    natural = dirichlet is None
    diff_h2 = np.asarray(diffusion, dtype=np.float64) / h**2
    if np.any(diff_h2 < 0):
        raise PricingInputError("diffusion must be non-negative")
    if natural and (diff_h2[0] != 0.0 or diff_h2[-1] != 0.0):
        raise PricingInputError(
            "natural boundaries need zero diffusion at both ends; pass dirichlet values instead"
        )
    value = np.empty((n_t, n_x))
    drifts = np.empty((n_t - 1, n_x))
    iterations = np.zeros(n_t - 1, dtype=np.int64)
    v = np.asarray(terminal, dtype=np.float64).copy()
    if dirichlet is not None:
        v[0], v[-1] = dirichlet[-1]
    value[-1] = v
    grad = gradient(v, h)
    group = np.arange(n_t - 1) if coefficient_group is None else np.asarray(coefficient_group)
    last: tuple[int, np.ndarray, np.ndarray] | None = None
    for step in range(n_t - 2, -1, -1):
        dt = float(t[step + 1] - t[step])
        if last is not None and last[0] == group[step]:
            drift, cost = last[1], last[2]
        else:
            drift, cost = policy(step, grad)
        settled = tol * (1.0 + np.abs(drift).max())
        lo_e, up_e = _stencil(drift, diff_h2, h, natural, (1.0 - theta) * dt)
        implicit: float | np.ndarray = theta * dt
        same_weights = theta == 0.5
        if monotone and theta < 1.0:
            negative = lo_e + up_e > 1.0  # explicit diagonal < 0: step this node implicitly
            if negative.any():
                implicit = np.where(negative, dt, theta * dt)
                same_weights = False
        if same_weights:
            explicit = v + (_apply(lo_e, up_e, v) + (dt - implicit) * cost)
            lo, up = lo_e, up_e
        else:
            if not isinstance(implicit, float):
                lo_e[negative] = up_e[negative] = 0.0
            explicit = v + (_apply(lo_e, up_e, v) + (dt - implicit) * cost)
            lo, up = _stencil(drift, diff_h2, h, natural, implicit)
        for it in range(1, max_iter + 1):
            rhs = explicit + implicit * cost
            d = lo + up
            d += 1.0
            dl = -lo[1:]
            du = -up[:-1]
            if dirichlet is not None:
                d[0] = d[-1] = 1.0
                du[0] = dl[-1] = 0.0
                rhs[0], rhs[-1] = dirichlet[step]
            _, _, _, v, info = lapack.dgtsv(
                dl, d, du, rhs, overwrite_dl=1, overwrite_d=1, overwrite_du=1, overwrite_b=1
            )
            if info != 0:
                raise PricingInputError(f"tridiagonal solve failed (LAPACK info={info})")
            grad = gradient(v, h)
            new_drift, cost = policy(step, grad)
            iterations[step] = it
            change = np.abs(new_drift - drift).max()
            drift = new_drift
            if change <= settled:
                last = (int(group[step]), drift, cost) if step else None
                break
            lo, up = _stencil(drift, diff_h2, h, natural, implicit)
        else:
            raise PricingError(
                f"policy iteration did not settle at time step {step} after {max_iter} solves "
                f"(control still moving by {change:.3g}, tolerance {settled:.3g}); raise "
                "max_iter or tol, or refine the time grid"
            )
        value[step] = v
        drifts[step] = drift
    return HJBSolution(x=x, t=t, value=value, drift=drifts, iterations=iterations)
