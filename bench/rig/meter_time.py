"""The meter's own clock, for meters the bench can read it from: emulators in its process.

A READING frame carries no time (PROTOCOL.md §5.2): over a wire the bench knows only
when a reading arrived, late by the link and the host's scheduling (at an accelerated
clock, seconds of simulated time on a busy machine). An emulated meter in the bench's
own process can say when it read its counters, on its own (simulated) clock:
:func:`with_meter_time` stamps each reading with that time (``Reading.meter_time_s``)
and :func:`meter_clock` maps the meter's clock to the host's monotonic clock, so the
scenario cuts the meter at a boundary on the meter's own time. Such a meter also latches
its counters at each market boundary on its own clock, as a billing register does
(:func:`boundary_register`): the scenario cuts it there exactly, however late the host
got to it and whatever the gap between its readings.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from typing import Protocol

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
