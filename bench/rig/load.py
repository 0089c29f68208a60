"""Load control: the bench sets the load a meter measures (emulated, simavr and fake
meters; a real board measures a real load, which the bench cannot change)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable


class LoadControl(Protocol):
    """The load behind one meter, as the bench drives it."""

    def true_power_w(self) -> float:
        """Signed power flowing through the meter now (0 with the relay open)."""

    def set_power(self, power_w: float) -> None:
        """Hold a constant signed power from now on (positive import)."""

    def scale(self, factor: float) -> None:
        """Scale the configured load by ``factor`` from now on (demand response)."""


@runtime_checkable
class FollowingLoad(Protocol):
    """An emulated load whose power is known at any simulated instant, and that can draw
    a power given as a function of time (the emulated feeder follows the others)."""

    def power_at(self, t_s: float) -> float:
        """Signed power at simulated instant ``t_s`` (0 with the relay open)."""

    def follow(self, source: Callable[[float], float]) -> None:
        """Draw ``source(t)`` at each simulated instant ``t`` from now on."""

    def settle(self) -> None:
        """Integrate the counters up to now."""


@runtime_checkable
class LimitedLoad(Protocol):
    """An emulated load the grid's limits act on (:mod:`bench.rig.limits`)."""

    def unlimited_power_at(self, t_s: float) -> float:
        """Signed power at ``t_s`` before curtailment or shedding (0 with the relay open)."""

    def limit(self, limiter: Callable[[float, float], float] | None) -> None:
        """Draw ``limiter(t, unlimited power)`` from now on."""
