"""The meter's own clock: where the bench places each meter's readings in time.

A meter's boundary cut needs the host instant at which it read the counters of each
reading (the fleet cuts every meter at the host instant the scenario clock shows the
boundary, ``SimClock.real_time_of``). By kind:

- ``emulated`` (and boards emulated by a farm in this process): the emulator says on its
  own simulated clock when it read the counters of each READING frame;
  :func:`with_meter_time` stamps the reading with it (``Reading.meter_time_s``) and
  :func:`meter_clock` maps it to the host's monotonic clock.
- ``firmata``, ``mqtt``: a READING frame carries no time (firmware/PROTOCOL.md §5.2),
  only ``seq``, +1 per frame streamed every STREAM interval of the meter's own clock. The
  meter's time of frame n is n × interval (from its boot); the fleet fits the host
  instant ``a + b·n`` to the frames' arrivals (:class:`bench.devices.StreamClock`: the
  rate ``b`` follows the meter's clock, the offset ``a`` the least-delayed frames), so
  arrival jitter, a board's crystal drift and the host's scheduling drop out.
  :func:`stream_period_s` gives the nominal ``b`` the fit starts from.
- ``simavr``: placed at its arrival. The AVR's clock is the runner's simulated time,
  and the runner simulates in bursts paced by the host's scheduling: its counters at a
  host instant are what it has simulated by then, so a frame was read when the runner
  made it, just before it left on the pty. Its pace is no steady clock a line could
  follow (8 runners asked for 4x on 2 loaded cores kept 0.20-0.41 of it, changing from
  second to second; a fitted rate was off by up to 2.2x over 10 s). At the at most 4x
  a simavr meter runs, the reader's delay is seconds of simulated time at most.
- ``generic``: the host integrates the analog samples itself and stamps each reading
  with the instant it integrated to (``Reading.t_s``): its arrival is its time.
- ``fake``: stamped on the scenario clock when integrated; ``modbus``: the instant of
  the register read.

An emulated meter also latches its counters at each market boundary on its own
clock, as a billing register does (:func:`boundary_register`): the scenario cuts it
there exactly, however late the host got to it and whatever the gap between its
readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

from bench.config import BenchConfig
from bench.devices import Calibration, Identity, Reading
from bench.devices.protocol import Meter
from bench.emulator import EmulatedMeter, emulated_meter_on


class _MeterTimed:
    """A driver whose readings carry the emulated meter's own time."""

    def __init__(self, meter: Meter, emulated: EmulatedMeter) -> None:
        self._meter = meter
        self._emulated = emulated
        self.url = meter.url

    def _stamp(self, r: Reading) -> Reading:
        t_s = self._emulated.reading_time_s(r.boot_count, r.seq)
        return r if t_s is None else replace(r, meter_time_s=t_s)

    def identity(self, *, refresh: bool = False) -> Identity:
        return self._meter.identity(refresh=refresh)

    def read(self) -> Reading:
        return self._stamp(self._meter.read())

    def start_stream(self, interval_s: float) -> None:
        self._meter.start_stream(interval_s)

    def stop_stream(self) -> None:
        self._meter.stop_stream()

    def next_readings(self, timeout_s: float) -> list[Reading]:
        return [self._stamp(r) for r in self._meter.next_readings(timeout_s)]

    def set_relay(self, closed: bool) -> None:
        self._meter.set_relay(closed)

    def calibration(self) -> Calibration:
        return self._meter.calibration()

    def set_calibration(self, cal: Calibration) -> None:
        self._meter.set_calibration(cal)

    def close(self) -> None:
        self._meter.close()

    def __getattr__(self, name: str) -> object:
        # the driver's other methods (signer, signed readings, keys) pass through
        return getattr(self._meter, name)


def with_meter_time(meter: Meter, url: str) -> Meter:
    """``meter``, its readings stamped with the meter's own time when an emulator of this
    process answers on ``url``; else ``meter`` itself."""
    emulated = emulated_meter_on(url)
    return meter if emulated is None else _MeterTimed(meter, emulated)


def meter_clock(url: str) -> Callable[[float], float | None] | None:
    """Maps the own clock of the emulated meter on ``url`` to host monotonic seconds
    (None for a meter whose clock the bench cannot read)."""
    emulated = emulated_meter_on(url)
    return None if emulated is None else emulated.real_time_of


STREAM_KINDS = frozenset({"firmata", "mqtt"})
"""Kinds whose READING frames count a stream cadence of the meter's own clock (``seq``)."""


def stream_period_s(kind: str, bench: BenchConfig, speed: float) -> float | None:
    """Nominal host seconds between a meter's READING frames, for the kinds whose ``seq``
    is a cadence of their own clock (None for the others): the STREAM interval
    (``reading_interval_s``); ``speed`` is the scenario's (a board streams in real time)."""
    return bench.reading_interval_s if kind in STREAM_KINDS else None


class BoundaryRegister(Protocol):
    """A meter's counters latched at the market's boundaries on its own clock."""

    def latch_boundaries(self, origin_s: float, period_s: float) -> None:
        """Latch at every simulated ``origin_s + k * period_s`` (k ≥ 1) from now on."""

    def latched_wh(self, k: int) -> tuple[float, float] | None:
        """(import, export) Wh at boundary ``k`` (None before the meter's clock got there)."""


def boundary_register(url: str) -> BoundaryRegister | None:
    """The boundary register of the emulated meter on ``url`` (None for a meter the
    bench cannot read in process)."""
    return emulated_meter_on(url)
