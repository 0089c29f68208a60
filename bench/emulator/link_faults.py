"""Link faults at random instants: reboots, unplugs (a broker disconnect over MQTT) and
stalls, for ``gridbench emulate run`` on ptys and over MQTT.

Each meter suffers each kind of fault as a Poisson process of its own (exponential gaps
with the configured mean, seeded), so a long run sees them at the configured rates and
two meters never fail in lock-step. The rate faults (drop, garbage, truncation) are the
meters' own :class:`~bench.config.Faults`; these act on the link, through the same
handles a test turns: ``reboot()``, ``unplug(down_s)``, ``stall(seconds)``.
"""

from __future__ import annotations

import heapq
import itertools
import random
import sys
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, fields
from typing import Protocol, TextIO

from bench.errors import ConfigError

KINDS = ("reboot", "unplug", "stall")


class LinkHandles(Protocol):
    """What a scheduler needs of one emulated meter."""

    @property
    def meter_id(self) -> str:
        """The meter's id (for the log)."""

    def reboot(self) -> None:
        """Reset the meter (counters kept)."""

    def unplug(self, down_s: float | None = None) -> None:
        """Drop the link; it comes back after ``down_s``."""

    def stall(self, seconds: float) -> None:
        """Answer nothing and publish nothing for ``seconds``."""


@dataclass(frozen=True)
class LinkFaults:
    """Mean seconds between faults of each kind per meter (0: never), and how long an
    unplug and a stall last."""

    reboot_every_s: float = 0.0
    unplug_every_s: float = 0.0
    unplug_s: float = 5.0
    stall_every_s: float = 0.0
    stall_s: float = 3.0

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            if not value >= 0 or value == float("inf"):
                raise ConfigError(f"link fault {f.name} = {value}: write a finite number ≥ 0")
            if f.name in ("unplug_s", "stall_s") and value == 0:
                raise ConfigError(f"link fault {f.name} must be > 0 seconds")

    @property
    def any(self) -> bool:
        """Some fault is on."""
        return any(self.every_s(kind) > 0 for kind in KINDS)

    def every_s(self, kind: str) -> float:
        """The mean gap of ``kind``."""
        return float(getattr(self, f"{kind}_every_s"))

    @classmethod
    def names(cls) -> tuple[str, ...]:
        """The settings, as ``--fault NAME=VALUE`` takes them."""
        return tuple(f.name for f in fields(cls))


class LinkFaultScheduler:
    """Fires each meter's faults at their random instants, on a thread of its own.

    ``counts`` says how many of each kind fired; every fault is logged to ``log`` (one
    line: meter, kind, duration; standard error by default) unless ``quiet``.
    """

    def __init__(
        self,
        meters: Iterable[LinkHandles],
        faults: LinkFaults,
        *,
        seed: int = 0,
        log: TextIO | None = None,
        quiet: bool = False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.faults = faults
        self.log = log
        self.quiet = quiet
        self.clock = clock
        self.counts = dict.fromkeys(KINDS, 0)
        self._rng = random.Random(seed)
        self._tie = itertools.count()
        self._heap: list[tuple[float, int, str, LinkHandles]] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        now = clock()
        for meter in meters:
            for kind in KINDS:
                self._arm(meter, kind, now)

    def _arm(self, meter: LinkHandles, kind: str, after: float) -> None:
        every = self.faults.every_s(kind)
        if every > 0:
            at = after + self._rng.expovariate(1 / every)
            heapq.heappush(self._heap, (at, next(self._tie), kind, meter))

    def fire_due(self, now: float) -> list[tuple[str, str]]:
        """Fire every fault due by ``now``; (meter id, kind) of each, in order."""
        fired = []
        while self._heap and self._heap[0][0] <= now:
            at, _, kind, meter = heapq.heappop(self._heap)
            self._fire(meter, kind)
            fired.append((meter.meter_id, kind))
            # a fault is not due again before this one is over
            busy_s = {"unplug": self.faults.unplug_s, "stall": self.faults.stall_s}.get(kind, 0)
            self._arm(meter, kind, at + busy_s)
        return fired

    def _fire(self, meter: LinkHandles, kind: str) -> None:
        self.counts[kind] += 1
        if kind == "reboot":
            meter.reboot()
            detail = ""
        elif kind == "unplug":
            meter.unplug(self.faults.unplug_s)
            detail = f" for {self.faults.unplug_s:g} s"
        else:
            meter.stall(self.faults.stall_s)
            detail = f" for {self.faults.stall_s:g} s"
        if not self.quiet:
            out = self.log or sys.stderr
            print(f"fault: {meter.meter_id} {kind}{detail}", file=out, flush=True)

    def next_at(self) -> float:
        """When the next fault is due (inf: none)."""
        return self._heap[0][0] if self._heap else float("inf")

    # -- the thread ------------------------------------------------------------------
    def start(self) -> LinkFaultScheduler:
        """Fire faults in the background until :meth:`stop`."""
        if self._heap:
            self._thread = threading.Thread(target=self._run, name="link-faults", daemon=True)
            self._thread.start()
        return self

    def stop(self) -> None:
        """Fire no more faults."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
            self._thread = None

    def __enter__(self) -> LinkFaultScheduler:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.wait(max(0.0, min(1.0, self.next_at() - self.clock()))):
            self.fire_due(self.clock())
