"""The Modbus meters (PZEM-004T v3, Eastron SDM120 / SDM630) on emulated buses.

Each runs on Modbus-RTU over a pty, the SDM630 also on Modbus-TCP (by default every
model runs once, the PZEM and the SDM120 on RTU, the SDM630 on TCP; ``-m slow`` adds
the SDM630 on RTU); every bus carries a second meter at another address, so the driver
must reach its own by address. The PZEM
measures magnitudes with a 1 Wh counter: it lacks ``export`` and its energy resolution
is 1 Wh.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.config import BenchConfig, MeterConfig
from bench.config.model import ModbusConfig
from bench.emulator.modbus_bus import ModbusBus
from bench.emulator.modbus_device import modbus_device
from bench.rig import MeterSite, open_meter

from .kinds import MeterUnderTest, register_kind


def _modbus(model: str, tcp: bool) -> Iterator[MeterUnderTest]:
    with ModbusBus(tcp=tcp) as bus:
        bus.add(modbus_device("sdm120", "neighbour", 1, power_w=777.0))
        device = bus.add(modbus_device(model, "conf-1", 7))
        config = MeterConfig("conf-1", kind=model, modbus=ModbusConfig(address=7))
        driver = open_meter(config, BenchConfig(meters=(config,)), MeterSite(bus.url))
        pzem = model == "pzem004t"
        try:
            yield MeterUnderTest(
                driver,
                device,
                frozenset({"truth"}),
                lacks=frozenset({"export"}) if pzem else frozenset(),
                why_not="a PZEM-004T measures magnitudes only",
                energy_resolution_wh=1.0 if pzem else 0.0,
                integrate_s=2.0 if pzem else 1.0,
            )
        finally:
            driver.close()
        assert bus.frames_bad == 0


@register_kind("pzem004t-rtu", runtime="pzem004t", caps={"truth"})
def pzem_rtu(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """PZEM-004T v3 on Modbus-RTU over a pty."""
    yield from _modbus("pzem004t", tcp=False)


SLOW = [pytest.mark.slow]  # the same bus and driver as the kinds above: -m slow runs them


@register_kind("sdm120-rtu", runtime="sdm120", caps={"truth"})
def sdm120_rtu(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """SDM120 on Modbus-RTU over a pty."""
    yield from _modbus("sdm120", tcp=False)


@register_kind("sdm630-rtu", runtime="sdm630", caps={"truth"}, marks=SLOW)
def sdm630_rtu(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """SDM630 on Modbus-RTU over a pty."""
    yield from _modbus("sdm630", tcp=False)


@register_kind("sdm630-tcp", runtime="sdm630", caps={"truth"})
def sdm630_tcp(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """SDM630 on Modbus-TCP over loopback."""
    yield from _modbus("sdm630", tcp=True)
