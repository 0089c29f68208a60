"""The HJB solver against closed forms: linear-quadratic control and Lucia–Schwartz forwards."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from pricing.hjb import gradient
from pricing.verification import LQCase, LuciaSchwartzCase, convergence


def _fd(f, x: float, h: float) -> tuple[float, float]:  # type: ignore[no-untyped-def]
    """First and second central differences of a scalar function."""
    return (f(x + h) - f(x - h)) / (2 * h), (f(x + h) - 2 * f(x) + f(x - h)) / h**2


@pytest.mark.parametrize(("t", "s"), [(0.0, 1000.0), (7.5, 4200.0), (20.0, 9000.0)])
def test_lq_closed_form_solves_the_hjb(t: float, s: float) -> None:
    case = LQCase()
    p, k, load = case.policy()

    def v(tt: float, ss: float) -> float:
        return float(case.exact(tt, np.array([ss]))[0])

    v_t, _ = _fd(lambda tt: v(tt, s), t, 1e-3)
    v_s, v_ss = _fd(lambda ss: v(t, ss), s, 1.0)
    hamiltonian = -((p + v_s) ** 2) / (2 * k) - load * v_s  # min over g of the running cost
    residual = v_t + hamiltonian + case.diffusion_wh2_per_h * v_ss
    assert abs(residual) < 1e-5 * (abs(v_t) + abs(hamiltonian))
    # terminal condition
    end = case.exact(case.horizon_h, np.array([s]))[0]
    assert end == pytest.approx(case.terminal_weight_wei_per_wh2 * (s - case.soc_ref_wh) ** 2 / 2)


@pytest.mark.parametrize(("t", "x"), [(0.0, 5.0), (3.0, 6.2), (5.5, 4.1)])
def test_lucia_schwartz_closed_form_solves_kolmogorov(t: float, x: float) -> None:
    case = LuciaSchwartzCase()

    def f(tt: float, xx: float) -> float:
        return float(case.exact(tt, np.array([xx]))[0])

    f_t, _ = _fd(lambda tt: f(tt, x), t, 1e-4)
    f_x, f_xx = _fd(lambda xx: f(t, xx), x, 1e-3)
    a = case.sigma_per_sqrt_h**2 / 2
    residual = f_t + case.kappa_per_h * (case.alpha - x) * f_x + a * f_xx
    assert abs(residual) < 1e-5 * abs(f(t, x))
    assert f(case.horizon_h, x) == pytest.approx(np.exp(x))


@pytest.mark.parametrize("case", [LQCase(), LuciaSchwartzCase()], ids=["lq", "lucia-schwartz"])
def test_crank_nicolson_converges_at_second_order(case: LQCase | LuciaSchwartzCase) -> None:
    rows = convergence(case, levels=4)
    errors = [r.max_error for r in rows]
    assert all(b < a for a, b in itertools.pairwise(errors))
    orders = [r.order for r in rows[1:]]
    assert all(o is not None and o >= 1.9 for o in orders), orders


def test_lq_marginal_value_matches_closed_form_at_production_grid() -> None:
    case = LQCase()
    sol = case.solve(101, 96)
    exact = gradient(case.exact(0.0, sol.x), sol.x[1] - sol.x[0])  # exact for quadratics
    numeric = sol.gradient(0)
    assert np.max(np.abs(numeric - exact)) < 0.05  # wei/Wh, against values of ~hundreds


def test_fully_implicit_is_only_first_order() -> None:
    """The same solver with theta = 1 must lose the second order (so the check can fail)."""
    rows = convergence(LuciaSchwartzCase(), levels=3, theta=1.0)
    assert rows[-1].order is not None and 0.8 < rows[-1].order < 1.4
