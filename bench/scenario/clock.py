"""The scenario clock: simulated time running at a fixed multiple of real time."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

from bench.errors import ConfigError


@dataclass
class SimClock:
    """Simulated seconds = ``start_s + speed * real seconds elapsed``.

    ``speed=1`` is real time; ``speed=1800`` runs half an hour per real second.
    """

    speed: float = 1.0
    start_s: float = 0.0
    _t0: float = field(default_factory=time.monotonic, repr=False)

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ConfigError(
                f"clock speed must be > 0 (got {self.speed}); use 1 for real time "
                "or e.g. 1800 for half an hour per second"
            )

    def restart(self) -> None:
        """Start counting real time from now."""
        self._t0 = time.monotonic()

    def now_s(self) -> float:
        """Current simulated time in seconds."""
        return self.start_s + self.speed * (time.monotonic() - self._t0)

    def real_time_of(self, sim_time_s: float) -> float:
        """The ``time.monotonic()`` instant at which the clock shows ``sim_time_s``."""
        return self._t0 + (sim_time_s - self.start_s) / self.speed

    def real_delay_s(self, sim_time_s: float) -> float:
        """Real seconds from now until the clock shows ``sim_time_s`` (≥ 0)."""
        return max(0.0, (sim_time_s - self.now_s()) / self.speed)

    def sleep_until(self, sim_time_s: float, stop: threading.Event) -> bool:
        """Sleep until ``sim_time_s``; return False if ``stop`` was set first."""
        return not stop.wait(self.real_delay_s(sim_time_s))
