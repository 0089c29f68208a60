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
    # (real instant of start_s, real instant paused at or None), read together with the
    # real time under the lock, so no thread ever sees simulated time run backwards
    _anchor: tuple[float, float | None] = field(
        default_factory=lambda: (time.monotonic(), None), repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)
    # (simulated time a pause began at, the real anchor valid up to it), one per pause
    _before_pauses: list[tuple[float, float]] = field(
        default_factory=list, repr=False, compare=False
    )

    def __post_init__(self) -> None:
        if not self.speed > 0:
            raise ConfigError(
                f"clock speed must be > 0 (got {self.speed}); use 1 for real time "
                "or e.g. 1800 for half an hour per second"
            )

    def restart(self) -> None:
        """Start counting real time from now."""
        with self._lock:
            self._anchor = (time.monotonic(), None)

    def pause(self) -> None:
        """Stop simulated time (meters on this clock integrate nothing meanwhile)."""
        with self._lock:
            t0, paused_at = self._anchor
            if paused_at is None:
                self._anchor = (t0, time.monotonic())

    def resume(self) -> None:
        """Let simulated time run again from where it stopped."""
        with self._lock:
            t0, paused_at = self._anchor
            if paused_at is not None:
                paused_sim_s = self.start_s + self.speed * (paused_at - t0)
                self._before_pauses.append((paused_sim_s, t0))
                self._anchor = (t0 + time.monotonic() - paused_at, None)

    def now_s(self) -> float:
        """Current simulated time in seconds."""
        with self._lock:
            t0, paused_at = self._anchor
            real = time.monotonic() if paused_at is None else paused_at
        return self.start_s + self.speed * (real - t0)

    def real_time_of(self, sim_time_s: float) -> float:
        """The ``time.monotonic()`` instant at which the clock shows (or showed)
        ``sim_time_s``: a time before a pause maps to the real time before the pause.

        The instant a pause holds maps to the pause's end (while paused: to now, as if it
        resumed this instant): a meter on this clock read during the pause is placed
        where its counters next move, so a pause is no gap between its readings (a gap
        longer than the counters' ``max_gap_s`` would make the energy it takes after the
        resume look like an outage's, none of it in the interval it was taken in)."""
        with self._lock:
            t0, paused_at = self._anchor
            if paused_at is not None:
                held_sim_s = self.start_s + self.speed * (paused_at - t0)
                if sim_time_s >= held_sim_s:  # paused now: as if it resumed this instant
                    return time.monotonic() + (sim_time_s - held_sim_s) / self.speed
            for paused_sim_s, t0_before in self._before_pauses:
                if sim_time_s < paused_sim_s:
                    t0 = t0_before
                    break
        return t0 + (sim_time_s - self.start_s) / self.speed

    def real_delay_s(self, sim_time_s: float) -> float:
        """Real seconds from now until the clock shows ``sim_time_s`` (≥ 0)."""
        return max(0.0, (sim_time_s - self.now_s()) / self.speed)

    def sleep_until(self, sim_time_s: float, stop: threading.Event) -> bool:
        """Sleep until ``sim_time_s``; return False if ``stop`` was set first."""
        return not stop.wait(self.real_delay_s(sim_time_s))
