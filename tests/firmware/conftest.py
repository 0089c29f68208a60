"""Fixtures that run the project's firmware in simavr and connect the bench's driver to it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.devices.firmata_meter import FirmataMeter
from bench.firmware import SimMeter
from tests.firmware.sim_meters import SimFactory, firmware_images_or_skip


@pytest.fixture(scope="session")
def firmware_images() -> tuple[Path, Path]:
    """(firmware ELF, simavr runner), built once per session."""
    return firmware_images_or_skip()


@pytest.fixture
def sim_meter_factory(firmware_images: tuple[Path, Path]) -> Iterator[SimFactory]:
    """Starts firmware meters in simavr, each with the bench driver connected to its pty."""
    elf, runner = firmware_images
    started: list[tuple[SimMeter, FirmataMeter]] = []

    def start(*, speed: float = 1.0, eeprom: Path | None = None) -> tuple[SimMeter, FirmataMeter]:
        sim = SimMeter(speed=speed, eeprom=eeprom, elf=elf, runner=runner)
        try:
            meter = FirmataMeter.open(sim.pty_path, timeout_s=2.0)
        except BaseException:
            sim.close()
            raise
        started.append((sim, meter))
        return sim, meter

    yield start
    for sim, meter in started:
        meter.close()
        sim.close()
