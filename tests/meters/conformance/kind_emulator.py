"""Kinds backed by the Python emulator (pty with both backends, TCP) and the fake."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.devices import FirmataMeter
from bench.devices.fake import FakeMeter
from bench.emulator import EmulatedMeter, MeterFarm

from .kinds import MeterUnderTest, register_kind


def _emulated(backend: str, tcp: bool) -> Iterator[MeterUnderTest]:
    with MeterFarm() as farm:
        em = farm.add(EmulatedMeter("conf-1", power_w=0.0, tcp=tcp))
        driver = FirmataMeter.open(em.port, backend=backend, reset_wait_s=0.0)
        try:
            yield MeterUnderTest(
                driver, em, frozenset({"truth", "wire", "reboot", "signing"}), reboot=em.reboot
            )
        finally:
            driver.close()
        assert farm.loop_error is None


@register_kind("emulator", caps={"truth", "wire", "reboot", "signing"})
def emulator_native(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The emulator on a pty, native parser."""
    yield from _emulated("native", tcp=False)


@register_kind("emulator-pyfirmata2", caps={"truth", "wire", "reboot", "signing"})
def emulator_pyfirmata2(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The emulator on a pty, pyfirmata2 backend."""
    yield from _emulated("pyfirmata2", tcp=False)


@register_kind("emulator-tcp", caps={"truth", "wire", "reboot", "signing"})
def emulator_tcp(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The emulator on socket://, native parser."""
    yield from _emulated("native", tcp=True)


@register_kind("fake", caps={"truth"})
def fake(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The in-process stand-in."""
    meter = FakeMeter("conf-1")
    yield MeterUnderTest(meter, meter, frozenset({"truth"}))
