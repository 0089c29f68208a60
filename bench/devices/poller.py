"""One reader thread per meter port: readings and link events out through a queue.

The poller owns its meter: it opens it, streams (or polls) readings, runs commands
submitted from other threads between reads, and on any link failure closes the port,
reports an outage and reconnects with exponential backoff. A meter that merely goes
silent (no I/O error) keeps its port: the poller reports the outage, asks again every
``stale_after_s`` on the open port and reports the meter back when it answers, because
reopening the port of a real Uno resets the board. :meth:`MeterPoller.reconnect` forces
a reopen. Energy over an outage is not lost: it is in the meter's cumulative counters
(see :class:`EnergyTracker`).
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

from bench.devices.protocol import Meter
from bench.devices.reading import Identity, Reading
from bench.errors import BenchError, ConfigError, LinkSilentError, TransportError

log = logging.getLogger(__name__)
T = TypeVar("T")
SEQ_WRAP = 1 << 28


@dataclass(frozen=True)
class MeterOnline:
    """The meter answered for the first time."""

    url: str
    meter_id: str
    t_s: float
    identity: Identity


@dataclass(frozen=True)
class MeterOutage:
    """The link failed or went silent; the poller is reconnecting."""

    url: str
    meter_id: str
    t_s: float
    reason: str


@dataclass(frozen=True)
class MeterReconnected:
    """The meter is back after an outage."""

    url: str
    meter_id: str
    t_s: float
    outage_s: float
    attempts: int


@dataclass(frozen=True)
class MeterRebooted:
    """The meter's boot counter changed (it reset; its counters survived)."""

    url: str
    meter_id: str
    t_s: float
    boot_count: int


MeterEvent = MeterOnline | MeterOutage | MeterReconnected | MeterRebooted


@dataclass
class PollerStats:
    """What one poller saw."""

    readings: int = 0
    frames_lost: int = 0
    outages: int = 0
    reboots: int = 0


class MeterPoller:
    """Reads one meter on its own thread and puts Readings and MeterEvents on ``out``.

    ``opener`` connects to the meter and returns any :class:`Meter` (the rig builds it
    for the meter's kind: :meth:`bench.rig.Rig.opener`); it is called again after every
    outage. ``url`` names the meter's address in events and logs.
    ``mode="stream"`` asks the meter to push a reading every ``interval_s``;
    ``mode="poll"`` requests one every ``interval_s``.
    """

    def __init__(
        self,
        opener: Callable[[], Meter],
        out: queue.Queue[Any],
        *,
        url: str,
        interval_s: float = 0.1,
        mode: str = "stream",
        expect_meter_id: str | None = None,
        stale_after_s: float | None = None,
        backoff_initial_s: float = 0.1,
        backoff_max_s: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if mode not in ("stream", "poll"):
            raise ConfigError(f"poller mode {mode!r} is unknown; use 'stream' or 'poll'")
        self.url = url
        self.out = out
        self.interval_s = interval_s
        self.mode = mode
        self.expect_meter_id = expect_meter_id
        self.stale_after_s = stale_after_s or max(1.0, 5 * interval_s)
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self.clock = clock
        self._opener = opener
        self.meter_id = expect_meter_id or "?"
        self.stats = PollerStats()
        self._commands: queue.Queue[tuple[Callable[[Meter], Any], Future[Any]]] = queue.Queue()
        self._stop = threading.Event()
        self._reopen = threading.Event()
        self._thread: threading.Thread | None = None
        self._last: Reading | None = None
        self.connected = threading.Event()

    # -- control -------------------------------------------------------------------
    def start(self) -> MeterPoller:
        """Start the reader thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"meter {self.url}", daemon=True)
            self._thread.start()
        return self

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop the thread and close the port."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def reconnect(self) -> None:
        """Close and reopen the meter's port (an explicit request: a stall alone never
        reopens it)."""
        self._reopen.set()

    def submit(self, fn: Callable[[Meter], T]) -> Future[T]:
        """Run ``fn(meter)`` on the reader thread between reads; fails if disconnected."""
        fut: Future[T] = Future()
        self._commands.put((fn, fut))
        return fut

    def set_relay(self, closed: bool) -> Future[None]:
        """Close or open the meter's relay (authenticated), from any thread."""
        return self.submit(lambda m: m.set_relay(closed))

    def __enter__(self) -> MeterPoller:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the reader thread -----------------------------------------------------------
    def _run(self) -> None:
        backoff = self.backoff_initial_s
        attempts = 0
        outage_t: float | None = None
        online_once = False
        while not self._stop.is_set():
            try:
                meter = self._opener()
            except BenchError as exc:
                attempts += 1
                if outage_t is None:
                    outage_t = self._outage(f"cannot connect: {exc}")
                self._fail_commands(exc)
                if isinstance(exc, ConfigError):  # reopening cannot fix the config
                    break
                if self._stop.wait(backoff):
                    break
                backoff = min(self.backoff_max_s, backoff * 2)
                continue
            try:
                ident = meter.identity()
                if self.expect_meter_id and ident.meter_id != self.expect_meter_id:
                    raise ConfigError(
                        f"port {self.url} holds meter {ident.meter_id!r}, the config expects "
                        f"{self.expect_meter_id!r}. A board fresh from flashing answers "
                        f"'meter': provision it (`gridbench meter provision --port {self.url} "
                        f"--id {self.expect_meter_id} --keystore "
                        f"keys/{self.expect_meter_id}.key`); else fix the port in the bench "
                        "config. Not retrying: reopening the port would not change the id."
                    )
                self.meter_id = ident.meter_id
                now = self.clock()
                if not online_once:
                    self.out.put(MeterOnline(self.url, self.meter_id, now, ident))
                    online_once = True
                elif outage_t is not None:
                    self.out.put(
                        MeterReconnected(self.url, self.meter_id, now, now - outage_t, attempts)
                    )
                outage_t, attempts, backoff = None, 0, self.backoff_initial_s
                self.connected.set()
                self._serve(meter)
            except Exception as exc:  # a driver bug must not silently end the reader thread
                if not isinstance(exc, BenchError):
                    log.exception("meter on %s: unexpected error; reconnecting", self.url)
                self.connected.clear()
                attempts += 1
                outage_t = self._outage(str(exc) if isinstance(exc, BenchError) else repr(exc))
                self._fail_commands(exc)
                if isinstance(exc, ConfigError):
                    break  # the finally clause closes the meter
                self._stop.wait(backoff)
            finally:
                meter.close()
        self.connected.clear()
        self._fail_commands(TransportError(f"poller for {self.url} stopped; start a new one"))

    def _serve(self, meter: Meter) -> None:
        if self.mode == "stream":
            meter.start_stream(self.interval_s)
        last_t = time.monotonic()
        next_poll = last_t
        stalled_t: float | None = None  # the outage of a silent meter on an open port
        asks = 0
        while not self._stop.is_set():
            if self._reopen.is_set():
                self._reopen.clear()
                raise TransportError(f"reopening {self.url} on request")
            self._run_commands(meter)
            readings: list[Reading] = []
            if self.mode == "stream":
                readings = meter.next_readings(0.05)
            else:
                wait = next_poll - time.monotonic()
                if wait > 0:
                    self._stop.wait(min(wait, 0.02))
                else:
                    next_poll = max(next_poll + self.interval_s, time.monotonic())
                    with contextlib.suppress(LinkSilentError):  # silence, not an I/O error
                        readings = [meter.read()]
            mono = time.monotonic()
            if readings:
                last_t = mono
                if stalled_t is not None:
                    now = self.clock()
                    self.out.put(
                        MeterReconnected(self.url, self.meter_id, now, now - stalled_t, asks)
                    )
                    self.connected.set()
                    stalled_t, asks = None, 0
                for r in readings:
                    self._emit(r)
            elif mono - last_t > self.stale_after_s:
                if stalled_t is None:
                    self.connected.clear()
                    stalled_t = self._outage(
                        f"meter on {self.url} sent no reading for {mono - last_t:.1f} s; "
                        "keeping the port open (reopening would reset a real board) and "
                        "asking again"
                    )
                asks += 1
                last_t = mono  # ask again after another stale period
                if self.mode == "stream":  # a rebooted meter streams only when asked
                    meter.start_stream(self.interval_s)

    def _emit(self, r: Reading) -> None:
        last = self._last
        if last is not None:
            if r.boot_count != last.boot_count:
                self.stats.reboots += 1
                self.out.put(MeterRebooted(self.url, r.meter_id, r.t_s, r.boot_count))
            else:
                gap = (r.seq - last.seq - 1) % SEQ_WRAP
                if 0 < gap < SEQ_WRAP // 2:
                    self.stats.frames_lost += gap
        self._last = r
        self.stats.readings += 1
        self.out.put(r)

    def _run_commands(self, meter: Meter) -> None:
        while True:
            try:
                fn, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            if not fut.set_running_or_notify_cancel():
                continue
            try:
                fut.set_result(fn(meter))
            except LinkSilentError as exc:  # the command timed out; the port is fine
                fut.set_exception(exc)
            except TransportError as exc:
                fut.set_exception(exc)
                raise
            except BenchError as exc:
                fut.set_exception(exc)
            except BaseException as exc:  # a bug: the caller's future must still complete
                fut.set_exception(exc)
                raise

    def _fail_commands(self, exc: BaseException) -> None:
        while True:
            try:
                _, fut = self._commands.get_nowait()
            except queue.Empty:
                return
            if fut.set_running_or_notify_cancel():
                fut.set_exception(
                    TransportError(f"meter on {self.url} is not connected ({exc}); retry later")
                )

    def _outage(self, reason: str) -> float:
        now = self.clock()
        self.stats.outages += 1
        log.warning("meter %s on %s: outage: %s", self.meter_id, self.url, reason)
        self.out.put(MeterOutage(self.url, self.meter_id, now, reason))
        return now
