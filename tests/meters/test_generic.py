"""The generic StandardFirmata driver, against the emulator answering as StandardFirmata."""

from __future__ import annotations

import time

import numpy as np
import pytest

from bench.config import GenericConfig
from bench.devices.generic import GenericFirmataMeter, check_sampling
from bench.emulator import EmulatedMeter, Faults, MeterFarm
from bench.errors import ConfigError


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
        assert m.device._states[8] == 0
        assert g.read().power_w == 0


@pytest.mark.parametrize("sampling_ms", [1, 2, 4, 5, 10, 20, 40, 60, 100, 25, 50, 150])
def test_sampling_intervals_that_alias_with_the_mains_are_refused(sampling_ms: int) -> None:
    """Divisors and multiples of 20 ms (50 Hz) and of 16.7 ms (60 Hz: 25 = 1.5 periods)."""
    cfg = GenericConfig(sampling_ms=sampling_ms)
    with pytest.raises(ConfigError, match=r"sampling_ms = \d+(: two analog| aliases)"):
        check_sampling(cfg)
    with pytest.raises(ConfigError):
        GenericFirmataMeter(None, "gen-1", cfg)  # type: ignore[arg-type]  # before any I/O


def test_every_accepted_interval_estimates_rms_within_5_percent() -> None:
    """Oracle: sample a sine at the interval over the window, any phase, 50 and 60 Hz."""
    accepted = []
    for sampling_ms in range(1, 201):
        cfg = GenericConfig(sampling_ms=sampling_ms)
        try:
            check_sampling(cfg)
        except ConfigError:
            continue
        accepted.append(sampling_ms)
        t = np.arange(int(cfg.window_s * 1000 // sampling_ms)) * sampling_ms / 1000
        for hz in (50.0, 60.0):
            for phase in np.linspace(0, np.pi, 7):
                rms = np.sqrt(np.mean(np.sin(2 * np.pi * hz * t + phase) ** 2))
                assert rms == pytest.approx(1 / np.sqrt(2), rel=0.05), (sampling_ms, hz)
    assert {19, 23} <= set(accepted) and 17 not in accepted  # 17 ms drifts too slowly at 60 Hz
