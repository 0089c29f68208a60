"""Firmware meters in simavr for the tests: the images (or a skip), the type of
``sim_meter_factory`` (tests/firmware/conftest.py) and a fresh meter as the commissioning
tests (the CLI's and the panel's dialog) find one on the bench.

Test modules import it as ``tests.firmware.sim_meters``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from bench.devices.firmata_meter import FirmataMeter
from bench.errors import ToolMissingError
from bench.firmware import SimMeter, Waveform, build_firmware, build_runner

SimFactory = Callable[..., tuple[SimMeter, FirmataMeter]]
"""``sim_meter_factory(speed=..., eeprom=...)``: a started meter and its connected driver."""

REFERENCE = Waveform(v_rms=230.0, i_rms=5.0)
"""What the meter's inputs see: 230 V and 5 A."""


def firmware_images_or_skip() -> tuple[Path, Path]:
    """(firmware ELF, simavr runner), or the test skipped when the toolchain is missing."""
    try:
        return build_firmware("uno"), build_runner()
    except ToolMissingError as exc:
        pytest.skip(str(exc))


@contextlib.contextmanager
def fresh_meter(
    images: tuple[Path, Path], eeprom: Path, *, relay_closed: bool = False
) -> Iterator[SimMeter]:
    """A meter as flashed (id 'meter', all-zero key, no signing key) on ``images``, its
    EEPROM in ``eeprom``, reading :data:`REFERENCE`,
    whose front end reads 6 % high in voltage and 5 % low in current with the factory
    gains; with ``relay_closed`` the reference current flows through it. Closed on exit."""
    elf, runner = images
    sim = SimMeter(speed=0, elf=elf, runner=runner, eeprom=eeprom)
    try:
        sim.set_waveform(REFERENCE)
        with FirmataMeter.open(sim.pty_path, timeout_s=30.0) as m:
            cal = m.calibration()
            m.set_calibration(
                replace(
                    cal,
                    v_gain_uv_per_count=round(cal.v_gain_uv_per_count * 1.06),
                    i_gain_ua_per_count=round(cal.i_gain_ua_per_count * 0.95),
                )
            )
            if relay_closed:
                m.set_relay(True)
        yield sim
    finally:
        sim.close()
