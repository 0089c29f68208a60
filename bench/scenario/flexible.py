"""A flexible load (an EV charger, a water heater): energy that must be drawn inside a
window of intervals, scheduled in the cheapest of them by ``pricing.shift_flexible_load``.

Each interval the schedule is made again for the rest of the window from the energy still
to draw (its meter's metered import so far), so the total is conserved whatever the load
actually drew; without demand response the rest is spread evenly.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from bench.config import FlexibleLoad
from pricing import shift_flexible_load

HEADROOM = 0.8
"""Plan each interval at most this share of the power limit: a setpoint lands a little
after the boundary, so a plan that needs every interval flat out would fall short."""


class FlexibleSchedule:
    """The power of one flexible load, interval by interval."""

    def __init__(self, load: FlexibleLoad, step_h: float, *, responsive: bool = True) -> None:
        self.load = load
        self.step_h = step_h
        self.responsive = responsive
        self.drawn_wh = 0.0

    def state(self) -> dict[str, float]:
        """What it drew so far in its window (for a resumed run)."""
        return {"drawn_wh": self.drawn_wh}

    def restore(self, state: dict[str, float]) -> None:
        """Carry on from :meth:`state`."""
        self.drawn_wh = float(state["drawn_wh"])

    def book(self, interval_id: int, import_wh: float) -> None:
        """Count what the load's meter imported in an interval of its window."""
        if self.load.first <= interval_id <= self.load.last:
            self.drawn_wh += import_wh

    def power_w(self, interval_id: int, price_of: Callable[[int], float]) -> float:
        """The power to hold during ``interval_id``; ``price_of(i)`` is the price expected
        for interval ``i`` (the published instantaneous price for the next one, the
        tariff for later ones)."""
        load = self.load
        if not load.first <= interval_id <= load.last:
            return 0.0
        left_wh = max(load.energy_wh - self.drawn_wh, 0.0)
        ids = np.arange(interval_id, load.last + 1)
        even = np.full(ids.size, left_wh / ids.size)
        if not self.responsive:
            return float(even[0] / self.step_h)
        max_wh = HEADROOM * load.power_w * self.step_h
        if left_wh > max_wh * ids.size:  # behind schedule: run flat out
            return load.power_w
        prices = np.array([price_of(int(i)) for i in ids], dtype=np.float64)
        plan = shift_flexible_load(even, prices, (0, ids.size), max_wh)
        return float(plan[0] / self.step_h)
