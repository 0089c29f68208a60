"""Load control: the bench sets the load a meter measures (emulated, simavr and fake
meters; a real board measures a real load, which the bench cannot change)."""

from __future__ import annotations

from typing import Protocol


class LoadControl(Protocol):
    """The load behind one meter, as the bench drives it."""

    def true_power_w(self) -> float:
        """Signed power flowing through the meter now (0 with the relay open)."""

    def set_power(self, power_w: float) -> None:
        """Hold a constant signed power from now on (positive import)."""

    def scale(self, factor: float) -> None:
        """Scale the configured load by ``factor`` from now on (demand response)."""
