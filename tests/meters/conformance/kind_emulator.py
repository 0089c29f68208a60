"""Kinds backed by the Python emulator (pty with both backends, TCP) and the fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.config import BenchConfig, MeterConfig
from bench.devices.fake import FakeMeter
from bench.emulator import EmulatedMeter, MeterFarm
from bench.rig import MeterSite, open_meter

from .kinds import MeterUnderTest, register_kind


def _emulated(backend: str, tcp: bool) -> Iterator[MeterUnderTest]:
    with MeterFarm() as farm:
        em = farm.add(EmulatedMeter("conf-1", power_w=0.0, tcp=tcp, factory_front_end=True))
        config = MeterConfig("conf-1", kind="emulated")
        bench = BenchConfig(meters=(config,), backend=backend)
        driver = open_meter(config, bench, MeterSite(em.port))  # as the rig opens it
        try:
            yield MeterUnderTest(
                driver, em, frozenset({"truth", "wire", "reboot"}), reboot=em.reboot
            )
        finally:
            driver.close()
        assert farm.loop_error is None


@register_kind("emulator", runtime="emulated", caps={"truth", "wire", "reboot"})
def emulator_native(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The emulator on a pty, native parser."""
    yield from _emulated("native", tcp=False)


@register_kind("emulator-pyfirmata2", runtime="emulated", caps={"truth", "wire", "reboot"})
def emulator_pyfirmata2(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The emulator on a pty, pyfirmata2 backend."""
    yield from _emulated("pyfirmata2", tcp=False)


@register_kind("emulator-tcp", runtime="emulated", caps={"truth", "wire", "reboot"})
def emulator_tcp(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The emulator on socket://, native parser."""
    yield from _emulated("native", tcp=True)


@register_kind("fake", runtime="fake", caps={"truth"})
def fake(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The in-process stand-in."""
    meter = FakeMeter("conf-1")
    config = MeterConfig("conf-1", kind="fake")
    driver = open_meter(config, BenchConfig(meters=(config,)), MeterSite(meter.url, driver=meter))
    yield MeterUnderTest(driver, meter, frozenset({"truth"}))
