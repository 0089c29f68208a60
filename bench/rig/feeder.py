"""The feeder of an emulated microgrid: the grid connection's true energy flow.

The feeder meter sits at the point of common coupling and measures what the microgrid
imports from the city grid: what the participants import, less what they export, plus
line losses, plus anything drawn past the meters (theft). With load control over every
meter, that truth is computed from the meters' true powers; the audit's energy balance
must then find exactly the unmetered part.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

from bench.rig.load import FollowingLoad, LoadControl


def feeder_power_w(
    powers_w: Sequence[float], loss_fraction: float, unmetered_load_w: float
) -> float:
    """Power through the feeder for the participants' signed powers (import > 0).

    Losses are ``loss_fraction`` of the energy injected into the microgrid's lines
    (exports plus feeder import), the audit's model: solving
    ``F = imports + unmetered - exports + loss_fraction * (exports + F)`` for F.
    """
    imports = sum(p for p in powers_w if p > 0)
    exports = -sum(p for p in powers_w if p < 0)
    return (imports + unmetered_load_w - exports + loss_fraction * exports) / (1.0 - loss_fraction)


class FeederDriver:
    """Keeps the feeder meter's load equal to the microgrid's true flow."""

    def __init__(
        self,
        feeder: LoadControl,
        loads: Sequence[LoadControl],
        *,
        loss_fraction: float,
        unmetered_load_w: float,
        period_s: float = 0.005,
    ) -> None:
        self.feeder = feeder
        self.loads = tuple(loads)
        self.loss_fraction = loss_fraction
        self.unmetered_load_w = unmetered_load_w
        self.period_s = period_s
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="feeder", daemon=True)
        self._following = isinstance(feeder, FollowingLoad) and all(
            isinstance(load, FollowingLoad) for load in self.loads
        )

    def update(self) -> float:
        """Set the feeder to the flow now; return it in W.

        When every meter is an emulated :class:`FollowingLoad`, the feeder draws the flow
        as a function of simulated time (the others' profiles at each instant), so a
        late update never holds a stale power through a ramp; an update then only
        integrates the feeder's counters up to now. No thread updates it then: the farm
        integrates the feeder at every step in another load (a relay, a setpoint), and
        its counters do not depend on when else they are integrated.
        """
        if self._following:
            self.feeder.settle()  # type: ignore[attr-defined]
            return self.flow_at_w(None)
        powers = [load.true_power_w() for load in self.loads]
        power = feeder_power_w(powers, self.loss_fraction, self.unmetered_load_w)
        self.feeder.set_power(power)
        return power

    def flow_at_w(self, t_s: float | None) -> float:
        """The microgrid's true flow at simulated instant ``t_s`` (None: now)."""
        if t_s is None:
            powers = [load.true_power_w() for load in self.loads]
        else:
            powers = [load.power_at(t_s) for load in self.loads]  # type: ignore[attr-defined]
        return feeder_power_w(powers, self.loss_fraction, self.unmetered_load_w)

    def _run(self) -> None:
        while not self._stop.wait(self.period_s):
            self.update()

    def __enter__(self) -> FeederDriver:
        if self._following:
            self.feeder.follow(self.flow_at_w)  # type: ignore[attr-defined]
        self.update()
        if not self._following:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        if self._thread.ident is not None:
            self._thread.join(2.0)
