"""Metering accuracy of the firmware in simavr against the injected truth (PZEM-004T class)."""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.devices.firmata_meter import FirmataMeter
from bench.devices.reading import Reading
from bench.firmware import SimMeter, Waveform

# A reading with the simulated time the meter took it: when the request reached its UART.
Stamped = tuple[Reading, float]
Measured = dict[str, tuple[list[Reading], Stamped, Stamped]]


def stamped(meter: FirmataMeter, sim: SimMeter) -> Stamped:
    reading = meter.read()
    return reading, sim.last_rx_time()


pytestmark = pytest.mark.firmware

TOLERANCE = 0.005  # 0.5 %
SPEED = 3.0  # simulated seconds per real second
ENERGY_WINDOW_S = 15.0  # simulated

CASES = {
    "pf1.0": Waveform(v_rms=230, i_rms=5, phase_deg=0),
    "pf0.8-lagging": Waveform(v_rms=230, i_rms=5, phase_deg=math.degrees(math.acos(0.8))),
    "pf0.5": Waveform(v_rms=230, i_rms=5, phase_deg=60),
    "distorted-current": Waveform(v_rms=230, i_rms=5, phase_deg=0, h3=0.3, h5=0.1, h7=0.05),
}


def truth(w: Waveform) -> tuple[float, float, float]:
    """(Vrms, Irms, real power) of the injected waveform."""
    irms = w.i_rms * math.sqrt(1 + w.h3**2 + w.h5**2 + w.h7**2)
    return w.v_rms, irms, w.v_rms * w.i_rms * math.cos(math.radians(w.phase_deg))


def rel(measured: float, true: float) -> float:
    return abs(measured - true) / true


@pytest.fixture(scope="module")
def measured(firmware_images: tuple[Path, Path]) -> Iterator[Measured]:
    """All cases at once, one meter each: readings and energy over a measured window."""
    elf, runner = firmware_images
    sims = {name: SimMeter(speed=SPEED, elf=elf, runner=runner) for name in CASES}
    meters: dict[str, FirmataMeter] = {}
    try:
        for name, sim in sims.items():
            sim.set_waveform(CASES[name])
            meters[name] = FirmataMeter.open(sim.pty_path, timeout_s=2.0)
        # Readings become valid (1 s after boot); a reading >= 0.1 s after the last save has
        # fresh counters. Waited for in simulated time: a loaded machine runs slower.
        while min(sim.sim_time() for sim in sims.values()) < 2.0:
            time.sleep(0.05)
        start = {name: stamped(m, sims[name]) for name, m in meters.items()}
        readings: dict[str, list[Reading]] = {name: [] for name in CASES}
        while min(sims[n].sim_time() - start[n][1] for n in CASES) < ENERGY_WINDOW_S:
            for name, m in meters.items():
                readings[name].append(m.read())
            time.sleep(0.3)
        time.sleep(0.2 / SPEED)
        end = {name: stamped(m, sims[name]) for name, m in meters.items()}
        yield {name: (readings[name], start[name], end[name]) for name in CASES}
    finally:
        for m in meters.values():
            m.close()
        for s in sims.values():
            s.close()


@pytest.mark.parametrize("case", list(CASES))
def test_rms_and_power_within_half_percent(measured: Measured, case: str) -> None:
    readings, _, _ = measured[case]
    v, i, p = truth(CASES[case])
    assert len(readings) >= 10
    for r in readings:
        assert r.valid
        assert rel(r.voltage_v, v) <= TOLERANCE, r
        assert rel(r.current_a, i) <= TOLERANCE, r
        assert rel(r.power_w, p) <= TOLERANCE, r
        assert abs(r.frequency_hz - 50.0) <= 0.05, r


@pytest.mark.parametrize("case", list(CASES))
def test_energy_within_half_percent(measured: Measured, case: str) -> None:
    _, (r0, t0), (r1, t1) = measured[case]
    _, _, p = truth(CASES[case])
    assert t1 - t0 >= ENERGY_WINDOW_S
    energy_wh = r1.energy_import_wh - r0.energy_import_wh
    assert rel(energy_wh, p * (t1 - t0) / 3600) <= TOLERANCE
    assert r1.energy_export_wh == r0.energy_export_wh


def test_power_factor_sign_and_value(measured: Measured) -> None:
    for case, expected in (("pf1.0", 1.0), ("pf0.8-lagging", 0.8), ("pf0.5", 0.5)):
        readings, _, _ = measured[case]
        assert all(abs(r.power_factor - expected) <= 0.005 for r in readings), case
