"""A battery's setpoint from the storage HJB policy, and its energy bookkeeping.

The HJB (:mod:`pricing.storage`) gives the optimal charging power for the state of
charge; :class:`Battery` turns it into a feasible setpoint for one interval (power limit,
room left, energy left) and books the energy with a round-trip efficiency ``η``: charging
``P`` W for ``h`` hours stores ``√η P h`` Wh, discharging delivers ``√η`` of what leaves
the cells, so a full cycle returns ``η`` of the energy metered in.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from pricing.errors import PricingInputError
from pricing.storage import StorageValue


@dataclass(frozen=True)
class Battery:
    """Capacity (Wh), power limit (W, both ways) and round-trip efficiency in (0, 1]."""

    capacity_wh: float
    power_limit_w: float
    round_trip_efficiency: float = 0.9

    def __post_init__(self) -> None:
        if not (self.capacity_wh > 0 and self.power_limit_w > 0):
            raise PricingInputError("battery capacity_wh and power_limit_w must be > 0")
        if not 0 < self.round_trip_efficiency <= 1:
            raise PricingInputError("round_trip_efficiency must be in (0, 1]")

    @property
    def _one_way(self) -> float:
        return math.sqrt(self.round_trip_efficiency)

    def setpoint_w(self, value: StorageValue, soc_wh: float, interval_h: float) -> float:
        """The HJB policy's power (W at the meter, + = charging) now, made feasible for the
        interval: within the power limit, not overfilling, not running empty."""
        target = value.charge_w(min(max(soc_wh, 0.0), value.model.capacity_wh))
        room_w = (self.capacity_wh - soc_wh) / (self._one_way * interval_h)
        stock_w = soc_wh * self._one_way / interval_h
        return min(max(target, -self.power_limit_w, -stock_w), self.power_limit_w, room_w)

    def step(self, soc_wh: float, power_w: float, interval_h: float) -> float:
        """The state of charge after ``power_w`` (metered, + = charging) for ``interval_h``."""
        metered_wh = power_w * interval_h
        stored = metered_wh * self._one_way if metered_wh >= 0 else metered_wh / self._one_way
        return min(max(soc_wh + stored, 0.0), self.capacity_wh)
