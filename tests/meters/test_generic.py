"""The generic StandardFirmata driver, against the emulator answering as StandardFirmata."""

from __future__ import annotations

import time

import pytest

from bench.config import GenericConfig
from bench.devices.generic import GenericFirmataMeter
from bench.emulator import EmulatedMeter, Faults, MeterFarm


@pytest.mark.parametrize("direction", ["import", "export"])
def test_rms_estimates_and_host_side_energy(farm: MeterFarm, direction: str) -> None:
    m = farm.add(EmulatedMeter("plain", power_w=2300.0, faults=Faults(wrong_firmware=True)))
    cfg = GenericConfig(relay_pin=8, direction=direction)
    with GenericFirmataMeter.open(m.port, "gen-1", cfg) as g:
        assert g.identity().firmware_name == "StandardFirmata.ino"
        r1 = g.read()
        # sampled at 19 ms against 50 Hz: a stroboscopic estimate, about ±10 % when the
        # samples arrive on time; a loaded host delays some, so allow ±20 % here
        assert r1.voltage_v == pytest.approx(230.0, rel=0.2)
        assert r1.current_a == pytest.approx(10.0, rel=0.2)
        assert (r1.power_w > 0) == (direction == "import")
        time.sleep(0.3)
        r2 = g.read()
        counted = (
            r2.energy_import_wh - r1.energy_import_wh
            if direction == "import"
            else r2.energy_export_wh - r1.energy_export_wh
        )
        assert counted == pytest.approx(2300 * (r2.t_s - r1.t_s) / 3600, rel=0.15)
        g.set_relay(False)
        time.sleep(0.05)
        assert m.device._outputs[8] == 0
        assert g.read().power_w == 0
