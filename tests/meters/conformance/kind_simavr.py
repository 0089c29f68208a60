"""The project's AVR firmware in simavr (added by the firmware suite).

The firmware measures in 10-cycle windows (0.2 s) at real time, so the truth handle waits
for two windows after every change it injects before the test reads the meter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bench.config import BenchConfig, MeterConfig
from bench.errors import ToolMissingError
from bench.firmware import SimMeter, Waveform, build_firmware, build_runner
from bench.rig import MeterSite, open_meter

from .kinds import MeterUnderTest, register_kind

SETTLE_S = 0.5  # two measurement windows and the cycle in progress


class _SimTruth:
    def __init__(self, sim: SimMeter) -> None:
        self._sim = sim
        self._was_closed = True

    def set_power(self, power_w: float) -> None:
        self._sim.set_waveform(
            Waveform(v_rms=230.0, i_rms=abs(power_w) / 230.0, phase_deg=0 if power_w >= 0 else 180)
        )
        time.sleep(SETTLE_S)

    @property
    def relay_closed(self) -> bool:
        closed = self._sim.relay_closed
        if closed and not self._was_closed:
            time.sleep(SETTLE_S)  # current flows again: let the meter measure it
        self._was_closed = closed
        return closed

    def energy_wh(self) -> tuple[float, float]:
        return self._sim.true_energy_wh()


@register_kind(
    "simavr", runtime="simavr", caps={"truth", "wire", "reboot"}, marks=[pytest.mark.firmware]
)
def simavr(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The firmware ELF in simavr at real time, its UART on a pty."""
    try:
        elf, runner = build_firmware("uno"), build_runner()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    sim = SimMeter(speed=1.0, elf=elf, runner=runner)
    try:
        config = MeterConfig("conf-1", kind="simavr")
        driver = open_meter(config, BenchConfig(meters=(config,)), MeterSite(sim.url))
        try:
            deadline = time.monotonic() + 5.0
            while not driver.read().valid and time.monotonic() < deadline:
                time.sleep(0.1)
            ident = driver.identity()
            signs = ident.protocol_version >= (1, 1) and ident.signing_key
            yield MeterUnderTest(
                driver,
                _SimTruth(sim),
                frozenset({"truth", "wire", "reboot"}),
                reboot=sim.reset,
                lacks=frozenset() if signs else frozenset({"signing"}),
                why_not=f"the firmware speaks protocol {ident.protocol_version[0]}."
                f"{ident.protocol_version[1]} with no signing key",
            )
        finally:
            driver.close()
    finally:
        sim.close()
