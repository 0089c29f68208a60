"""Progress of a run: "interval k of N" and the estimated time left.

The estimate is the measured real time per interval, paused time excluded, times the
intervals left; before the first interval ends it is the nominal
``market_interval_s / speed`` per interval.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass
class Progress:
    """Counts finished intervals against ``total``; ``clock`` is a monotonic real clock."""

    total: int
    nominal_interval_s: float
    clock: Callable[[], float] = time.monotonic
    done: int = 0
    _started_s: float | None = None
    _paused_since_s: float | None = None
    _paused_s: float = 0.0
    _last_s: float | None = field(default=None, repr=False)

    def start(self) -> None:
        """The run's intervals begin now."""
        self._started_s = self.clock()

    def interval_done(self, interval_id: int) -> None:
        """Interval ``interval_id`` (1-based) has ended."""
        self.done = interval_id
        self._last_s = self.clock()

    def pause(self) -> None:
        """Time stops counting from now (a paused run does not make the estimate worse)."""
        if self._paused_since_s is None:
            self._paused_since_s = self.clock()

    def resume(self) -> None:
        """Count time again."""
        if self._paused_since_s is not None:
            self._paused_s += self.clock() - self._paused_since_s
            self._paused_since_s = None

    def seconds_per_interval(self) -> float:
        """Measured real seconds per interval (nominal before any interval ended)."""
        if self._started_s is None or self._last_s is None or self.done == 0:
            return self.nominal_interval_s
        paused_s = self._paused_s
        if self._paused_since_s is not None and self._paused_since_s < self._last_s:
            paused_s += self._last_s - self._paused_since_s
        return max(0.0, self._last_s - self._started_s - paused_s) / self.done

    def seconds_left(self) -> float:
        """Estimated real seconds until the last interval ends."""
        return max(0, self.total - self.done) * self.seconds_per_interval()

    def text(self) -> str:
        """``interval k of N, about 1 min 05 s left``."""
        return (
            f"interval {self.done} of {self.total}, about {duration_text(self.seconds_left())} left"
        )


def duration_text(seconds: float) -> str:
    """``42 s``, ``3 min 05 s`` or ``1 h 02 min``."""
    s = round(seconds)
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {(s % 3600) // 60:02d} min"
