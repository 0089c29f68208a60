"""The storage HJB's backward march, compiled (numba): one call per re-solve.

The scheme is :func:`pricing.hjb.solve_backward`'s (Crank–Nicolson, fully implicit at the
nodes where its explicit weight would be negative, central or upwind drift differences,
natural boundaries, policy iteration) with the storage policy of
:mod:`pricing.storage` written into the node loops: per policy iteration one pass builds
the tridiagonal system, LAPACK ``dgtsv`` (scipy's, called through its address) solves it,
and one pass takes the gradient, the policy and its change. Sub-steps of one forecast
step share the coefficients, so the policy evaluated after a sub-step's last solve is the
next sub-step's first. Nothing is allocated per step.

The compiled code is cached beside this module (``__pycache__``) and loaded when the
module is imported (a tiny march at import), so no re-solve pays for it; the first import
in a new checkout compiles it (about 10 s of CPU; ``make build`` does it).
"""

from __future__ import annotations

import ctypes
from dataclasses import dataclass

import numpy as np
from numba import njit
from numba.extending import get_cython_function_address

_INT = ctypes.POINTER(ctypes.c_int)
_DOUBLE = ctypes.POINTER(ctypes.c_double)
DGTSV = ctypes.CFUNCTYPE(None, _INT, _INT, _DOUBLE, _DOUBLE, _DOUBLE, _DOUBLE, _INT, _INT)(
    get_cython_function_address("scipy.linalg.cython_lapack", "dgtsv")
)
"""LAPACK ``dgtsv(n, nrhs, dl, d, du, b, ldb, info)`` from scipy, passed to the compiled
code as an argument (an address compiled in as a constant could not be cached)."""


@dataclass(frozen=True)
class StorageCoefficients:
    """What the march needs: the SoC step ``h`` (Wh), ``a/h²`` per node (1/h), the
    terminal value (wei), and per forecast step the net load (W) and supply price."""

    h: float
    diffusion_h2: np.ndarray
    terminal_wei: np.ndarray
    net_load_w: np.ndarray
    price_wei_per_wh: np.ndarray
    import_slope: float
    wear_wei_per_wh: float
    power_limit_w: float


@dataclass(frozen=True)
class MarchResult:
    """``value[j]`` / ``drift[j]`` at the start of forecast step j (``value[-1]``: the
    terminal value); ``iterations[s]`` the solves of fine step s. ``failed_step`` ≥ 0 is
    the fine step whose policy iteration did not settle (``change``, ``settled``), and
    ``lapack_info`` is non-zero if a solve failed."""

    value: np.ndarray
    drift: np.ndarray
    iterations: np.ndarray
    failed_step: int
    change: float
    settled: float
    lapack_info: int


def march(
    c: StorageCoefficients, substeps: int, dt_h: float, tol: float, max_iter: int
) -> MarchResult:
    """Run the compiled backward march over every forecast step."""
    steps, n = c.net_load_w.size, c.terminal_wei.size
    value = np.empty((steps + 1, n))
    drift = np.empty((steps, n))
    iterations = np.zeros(steps * substeps, dtype=np.int64)
    status = np.zeros(2)

    def floats(a: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(a, dtype=np.float64)

    # one machine type per argument, so the kernel compiled (and cached) once serves all
    failed, info = _march(
        DGTSV,
        float(c.h),
        floats(c.diffusion_h2),
        floats(c.terminal_wei),
        floats(c.net_load_w),
        floats(c.price_wei_per_wh),
        float(c.import_slope),
        float(c.wear_wei_per_wh),
        float(c.power_limit_w),
        int(substeps),
        float(dt_h),
        float(tol),
        int(max_iter),
        value,
        drift,
        iterations,
        status,
    )
    return MarchResult(value, drift, iterations, failed, status[0], status[1], info)


def bare_solves(nodes: int, solves: int) -> int:
    """``solves`` bare ``dgtsv`` calls on a diagonally dominant system of ``nodes``, the
    way :func:`march` calls it (compiled loop, the system rewritten before each solve):
    the floor of any implementation of the scheme. Returns LAPACK's last info."""
    return int(_bare_solves(DGTSV, nodes, solves))


@njit(cache=True, nogil=True)
def _bare_solves(gtsv, nodes, solves):
    ints = np.empty(4, dtype=np.int32)
    dl = np.empty(nodes - 1)
    d = np.empty(nodes)
    du = np.empty(nodes - 1)
    b = np.empty(nodes)
    for _ in range(solves):
        ints[0], ints[1], ints[2], ints[3] = nodes, 1, nodes, 0
        dl[:] = -0.5
        d[:] = 2.0
        du[:] = -0.5
        b[:] = 1.0
        gtsv(
            ints[0:].ctypes,
            ints[1:].ctypes,
            dl.ctypes,
            d.ctypes,
            du.ctypes,
            b.ctypes,
            ints[2:].ctypes,
            ints[3:].ctypes,
        )
    return ints[3]


@njit(cache=True, nogil=True)
def _gradient(v, half_over_h, out):
    """Second-order V_x: central inside, one-sided at the ends (as ``hjb.gradient``)."""
    n = v.size
    for i in range(1, n - 1):
        out[i] = (v[i + 1] - v[i - 1]) * half_over_h
    out[0] = (-3.0 * v[0] + 4.0 * v[1] - v[2]) * half_over_h
    out[n - 1] = (3.0 * v[n - 1] - 4.0 * v[n - 2] + v[n - 3]) * half_over_h


@njit(cache=True, nogil=True)
def _policy(grad, price, load, k, wear, limit, drift, cost):
    """The minimizer of ``p g + k g²/2 + w |u| + u V_s`` within the power limits (inward
    at empty and full), and its running cost; returns max |drift|."""
    n = grad.size
    shift = price + k * load
    inv_k = 1.0 / k
    half_k = 0.5 * k
    largest = 0.0
    for i in range(n):
        z = grad[i] + shift
        u = (min(max(z, -wear), wear) - z) * inv_k
        low = 0.0 if i == 0 else -limit
        high = 0.0 if i == n - 1 else limit
        u = min(max(u, low), high)
        g = u + load
        drift[i] = u
        cost[i] = (g * half_k + price) * g + wear * abs(u)
        largest = max(largest, abs(u))
    return largest


@njit(cache=True, nogil=True)
def _stencil(drift, diff_h2, half_over_h, scale, lo, up):
    """``scale[i]`` times the weights of V[i-1] and V[i+1] at node i: central where they
    are both non-negative, upwind elsewhere; the outward weight at each end dropped."""
    n = drift.size
    for i in range(n):
        half = drift[i] * half_over_h
        extra = abs(half)
        if not extra > diff_h2[i]:
            extra = 0.0
        extra += diff_h2[i]
        lo[i] = (extra - half) * scale[i]
        up[i] = (extra + half) * scale[i]
    lo[0] = 0.0
    up[n - 1] = 0.0


@njit(cache=True, nogil=True)
def _march(
    gtsv,
    h,
    diff_h2,
    terminal,
    load,
    price,
    k,
    wear,
    limit,
    substeps,
    dt,
    tol,
    max_iter,
    value,
    drift_at,
    iterations,
    status,
):
    n = terminal.size
    steps = load.size
    half_over_h = 0.5 / h
    ints = np.empty(4, dtype=np.int32)
    v = terminal.copy()
    grad = np.empty(n)
    drift = np.empty(n)
    cost = np.empty(n)
    new_drift = np.empty(n)
    new_cost = np.empty(n)
    lo_e = np.empty(n)
    up_e = np.empty(n)
    lo = np.empty(n)
    up = np.empty(n)
    half_dt = np.full(n, 0.5 * dt)
    implicit = np.empty(n)
    explicit = np.empty(n)
    dl = np.empty(n - 1)
    d = np.empty(n)
    du = np.empty(n - 1)
    value[steps, :] = v
    _gradient(v, half_over_h, grad)
    current = -1  # the forecast step whose coefficients drift and cost were made with
    largest = 0.0
    for step in range(steps * substeps - 1, -1, -1):
        j = step // substeps
        if j != current:
            largest = _policy(grad, price[j], load[j], k, wear, limit, drift, cost)
            current = j
        settled = tol * (1.0 + largest)
        _stencil(drift, diff_h2, half_over_h, half_dt, lo_e, up_e)
        fallback = False
        for i in range(n):
            if lo_e[i] + up_e[i] > 1.0:  # explicit diagonal < 0: this node fully implicit
                implicit[i] = dt
                lo_e[i] = 0.0
                up_e[i] = 0.0
                fallback = True
            else:
                implicit[i] = 0.5 * dt
        for i in range(n):
            applied = -(lo_e[i] + up_e[i]) * v[i]
            if i > 0:
                applied += lo_e[i] * v[i - 1]
            if i < n - 1:
                applied += up_e[i] * v[i + 1]
            explicit[i] = v[i] + (applied + (dt - implicit[i]) * cost[i])
        if fallback:
            _stencil(drift, diff_h2, half_over_h, implicit, lo, up)
        else:
            lo[:] = lo_e
            up[:] = up_e
        change = np.inf
        for it in range(1, max_iter + 1):
            for i in range(n):
                v[i] = explicit[i] + implicit[i] * cost[i]
                d[i] = lo[i] + up[i] + 1.0
            for i in range(n - 1):
                dl[i] = -lo[i + 1]
                du[i] = -up[i]
            ints[0], ints[1], ints[2], ints[3] = n, 1, n, 0
            gtsv(
                ints[0:].ctypes,
                ints[1:].ctypes,
                dl.ctypes,
                d.ctypes,
                du.ctypes,
                v.ctypes,
                ints[2:].ctypes,
                ints[3:].ctypes,
            )
            if ints[3] != 0:
                return step, ints[3]
            _gradient(v, half_over_h, grad)
            largest = _policy(grad, price[j], load[j], k, wear, limit, new_drift, new_cost)
            change = 0.0
            for i in range(n):
                change = max(change, abs(new_drift[i] - drift[i]))
            drift, new_drift = new_drift, drift
            cost, new_cost = new_cost, cost
            iterations[step] = it
            if change <= settled:
                break
            _stencil(drift, diff_h2, half_over_h, implicit, lo, up)
        if not change <= settled:
            status[0] = change
            status[1] = settled
            return step, 0
        if step % substeps == 0:
            value[j, :] = v
            drift_at[j, :] = drift
    return -1, 0


def _load() -> None:
    """Compile the kernels, or load them from the cache, now rather than at the first
    re-solve (a market interval)."""
    tiny = np.zeros(5)
    march(
        StorageCoefficients(1.0, tiny, tiny, np.zeros(1), np.ones(1), 1.0, 0.0, 1.0), 1, 1.0, 1.0, 2
    )
    bare_solves(3, 1)


_load()
