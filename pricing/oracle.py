"""The welfare-maximizing linear program: the reference that clearing is checked against.

Variables are the accepted energy of each bid ``x_i ∈ [0, q_i]`` and offer ``y_j ∈
[0, q_j]``; the LP maximizes ``Σ p_i x_i − Σ c_j y_j`` subject to ``Σ x_i = Σ y_j``
(one node, no network limits), solved by HiGHS. A second LP maximizes the volume among
the welfare-optimal solutions, because the optimal volume is not unique when the marginal
bid and offer prices are equal; pay-as-clear is defined to pick that largest volume.
HiGHS works in floating point: compare welfare with a tolerance relative to its size.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linprog

from pricing.book import OrderArrays


@dataclass(frozen=True)
class OracleResult:
    """Optimal welfare (wei), the volume HiGHS returned and the largest optimal volume (Wh)."""

    welfare_wei: float
    volume_wh: float
    max_volume_wh: float
    dual_price_wei_per_wh: float | None = None
    """The energy balance's shadow price from HiGHS (one of the equilibrium prices)."""


def welfare_lp(book: OrderArrays, *, max_volume: bool = True) -> OracleResult:
    """Solve the welfare LP (and, if ``max_volume``, the largest-volume LP) with HiGHS."""
    bids = book.is_bid
    n_bid = int(bids.sum())
    if n_bid == 0 or n_bid == len(book):
        return OracleResult(0.0, 0.0, 0.0)
    price = book.price_wei_per_wh.astype(np.float64)
    sign = np.where(bids, 1.0, -1.0)
    bounds = np.column_stack((np.zeros(len(book)), book.energy_wh.astype(np.float64)))
    balance = sign[np.newaxis, :]
    best = linprog(-sign * price, A_eq=balance, b_eq=[0.0], bounds=bounds, method="highs")
    if best.status != 0:
        raise RuntimeError(f"HiGHS failed on the welfare LP: {best.message}")
    welfare = -float(best.fun)
    volume = float(best.x[bids].sum())
    # d(min −welfare)/d(b_eq): one more Wh of unmatched bids costs the shadow price
    dual = -float(best.eqlin.marginals[0])
    if not max_volume:
        return OracleResult(welfare, volume, volume, dual)
    slack = 1e-9 * max(1.0, abs(welfare)) + 1e-7
    widest = linprog(
        -bids.astype(np.float64),
        A_ub=-(sign * price)[np.newaxis, :],
        b_ub=[-(welfare - slack)],
        A_eq=balance,
        b_eq=[0.0],
        bounds=bounds,
        method="highs",
    )
    if widest.status != 0:
        raise RuntimeError(f"HiGHS failed on the largest-volume LP: {widest.message}")
    return OracleResult(welfare, volume, float(-widest.fun), dual)
