"""The project's AVR firmware in simavr (added by the firmware suite).

The firmware measures in 10-cycle windows (0.2 s) at real time, so the truth handle waits
for two windows after every change it injects before the test reads the meter.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from bench.devices import FirmataMeter
from bench.errors import ToolMissingError
from bench.firmware import SimMeter, Waveform, build_firmware, build_runner

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


@register_kind("simavr", caps={"truth", "wire", "reboot", "signing"}, marks=[pytest.mark.firmware])
def simavr(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The firmware ELF in simavr at real time, its UART on a pty."""
    try:
        elf, runner = build_firmware("uno"), build_runner()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    sim = SimMeter(speed=1.0, elf=elf, runner=runner)
    try:
        driver = FirmataMeter.open(sim.url, reset_wait_s=0.0, timeout_s=1.0)
        try:
            deadline = time.monotonic() + 5.0
            while not driver.read().valid and time.monotonic() < deadline:
                time.sleep(0.1)
            ident = driver.identity()
            caps = {"truth", "wire", "reboot"}
            why_not = ""
            if ident.protocol_version >= (1, 1) and ident.signing_key:
                caps.add("signing")
            else:
                why_not = (
                    f"the firmware speaks protocol {ident.protocol_version[0]}."
                    f"{ident.protocol_version[1]} with no signing key"
                )
            yield MeterUnderTest(
                driver, _SimTruth(sim), frozenset(caps), reboot=sim.reset, why_not=why_not
            )
        finally:
            driver.close()
    finally:
        sim.close()
