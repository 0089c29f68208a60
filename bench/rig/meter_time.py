"""The meter's own clock: where the bench places each meter's readings in time.

A meter's boundary cut needs the host instant at which it read the counters of each
reading (the fleet cuts every meter at the host instant the scenario clock shows the
boundary, ``SimClock.real_time_of``). By kind:

- ``emulated`` (and boards emulated by a farm in this process): the emulator says on its
  own simulated clock when it read the counters of each READING frame;
  :func:`with_meter_time` stamps the reading with it (``Reading.meter_time_s``) and
  :func:`meter_clock` maps it to the host's monotonic clock.
- ``firmata``, ``simavr``, ``mqtt``: a READING frame carries no time (firmware/PROTOCOL.md
  §5.2), only ``seq``, +1 per frame streamed every STREAM interval of the meter's own
  clock. The meter's time of frame n is n × interval (from its boot); the fleet fits the
  host instant ``a + b·n`` to the frames' arrivals (:class:`bench.devices.StreamClock`:
  the rate ``b`` follows the meter's clock, the offset ``a`` the least-delayed frames),
  so arrival jitter, a board's crystal drift and the host's scheduling drop out.
  :func:`stream_period_s` gives the nominal ``b`` the fit starts from. A ``simavr``
  meter's clock is the AVR's simulated time, which its runner paces at the scenario's
  speed when it keeps up (8 runners on 2 cores: about 0.55 of it): its counters
  integrate the injected power over AVR time, so in a scenario interval they count what
  the AVR lived through in the real span the interval took (0.55 of the interval's
  energy then). The fit follows that slower rate: the cut at boundary B is the
  counters at the host instant the scenario clock showed B, whatever the AVR's pace;
  AVR time maps to scenario time only through that host instant.
- ``generic``: the host integrates the analog samples itself and stamps each reading
  with the instant it integrated to (``Reading.t_s``): its arrival is its time.
- ``fake``: stamped on the scenario clock when integrated; ``modbus``: the instant of
  the register read.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

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


STREAM_KINDS = frozenset({"firmata", "simavr", "mqtt"})
"""Kinds whose READING frames count a stream cadence of the meter's own clock (``seq``)."""


def stream_period_s(kind: str, bench: BenchConfig, speed: float) -> float | None:
    """Nominal host seconds between a meter's READING frames, for the kinds whose ``seq``
    is a cadence of their own clock (None for the others): the STREAM interval
    (``reading_interval_s``) of its clock, which for ``simavr`` runs at ``speed``."""
    if kind not in STREAM_KINDS:
        return None
    return bench.reading_interval_s / (speed if kind == "simavr" else 1.0)
