"""Demand that answers the instantaneous price: constant elasticity and a flexible load."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricing.errors import PricingInputError


@dataclass(frozen=True)
class ConstantElasticity:
    """``load = base · (price / reference)^elasticity`` (elasticity ≤ 0), bounded to
    ``[min_factor, max_factor] · base`` so a price near zero cannot explode the load."""

    elasticity: float
    reference_price_wei_per_wh: float
    min_factor: float = 0.0
    max_factor: float = 2.0

    def __post_init__(self) -> None:
        if self.elasticity > 0:
            raise PricingInputError(
                f"elasticity must be ≤ 0 (demand falls with price), got {self.elasticity}"
            )
        if not self.reference_price_wei_per_wh > 0:
            raise PricingInputError("reference_price_wei_per_wh must be > 0")
        if not 0 <= self.min_factor <= 1 <= self.max_factor:
            raise PricingInputError("need 0 ≤ min_factor ≤ 1 ≤ max_factor")

    def load_w(self, base_load_w: float, price_wei_per_wh: float) -> float:
        """The responsive load at the instantaneous ``price_wei_per_wh``."""
        ratio = max(price_wei_per_wh, 1e-9) / self.reference_price_wei_per_wh
        factor = min(max(ratio**self.elasticity, self.min_factor), self.max_factor)
        return base_load_w * factor


def shift_flexible_load(
    energy_wh: np.ndarray,
    price_wei_per_wh: np.ndarray,
    window: tuple[int, int],
    max_energy_wh: float,
) -> np.ndarray:
    """Move a flexible load's energy within ``window = (first, stop)`` interval indexes to
    the cheapest intervals there, at most ``max_energy_wh`` per interval (power limit ×
    interval length); energy outside the window is untouched and the total is conserved.

    Ties go to the earlier interval. Raises if the window cannot hold the energy.
    """
    energy = np.asarray(energy_wh, dtype=np.float64)
    price = np.asarray(price_wei_per_wh, dtype=np.float64)
    first, stop = window
    if energy.shape != price.shape or not 0 <= first < stop <= energy.size:
        raise PricingInputError("window must lie inside the profile; energy and price same length")
    total = float(energy[first:stop].sum())
    if total > max_energy_wh * (stop - first) + 1e-9:
        raise PricingInputError(
            f"{total:.0f} Wh does not fit in {stop - first} intervals of {max_energy_wh:.0f} Wh; "
            "widen the window or raise the power limit"
        )
    out = energy.copy()
    out[first:stop] = 0.0
    left = total
    for i in first + np.argsort(price[first:stop], kind="stable"):
        take = min(max_energy_wh, left)
        out[i] = take
        left -= take
        if left <= 0:
            break
    return out
