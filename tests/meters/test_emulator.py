"""The emulator: pacing, simulated-time integration, profiles, link faults, many meters."""

from __future__ import annotations

import itertools
import os
import statistics
import time
from pathlib import Path

import numpy as np
import pytest

from bench.devices import FirmataMeter
from bench.emulator import EmulatedMeter, Faults, MeterFarm, Profile
from bench.emulator.device import Eeprom
from bench.emulator.physics import MeterPhysics
from bench.errors import ConfigError, DeviceError, TransportError
from bench.transport import firmata as fm
from bench.transport.link import NativeLink


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


@pytest.mark.parametrize("name", ["pv", "household", "campus", "household+pv", "campus*0.5"])
def test_profile_day_energy_matches_an_independent_integral(name: str) -> None:
    prof = Profile.parse(name)
    clock = Clock()
    ee = Eeprom("p")
    physics = MeterPhysics(ee, Faults(), clock, profile=prof)
    for hour in range(1, 25):  # read once an hour over one day
        clock.t = hour * 3600.0
        physics.advance()
    grid = np.linspace(0, 86400, 86401)
    p = np.array([prof.power_at(t) for t in grid])
    imp = np.trapezoid(np.clip(p, 0, None), grid) / 3.6  # W·s → mWh
    exp = np.trapezoid(np.clip(-p, 0, None), grid) / 3.6
    assert ee.import_mwh == pytest.approx(imp, rel=0.002, abs=1.0)
    assert ee.export_mwh == pytest.approx(exp, rel=0.002, abs=1.0)


def test_profile_shapes() -> None:
    pv = Profile.load("pv")
    assert pv.power_at(3 * 3600) == 0 and pv.power_at(12 * 3600) == pytest.approx(-3000, rel=0.01)
    assert Profile.load("household").power_at(19.5 * 3600) > 1500
    assert Profile.load("campus").power_at(12 * 3600) > 60000 > Profile.load("campus").power_at(0)
    assert pv.power_at(86400 + 12 * 3600) == pv.power_at(12 * 3600)
    with pytest.raises(ConfigError, match="known profiles"):
        Profile.load("nope")


def test_speed_integrates_in_simulated_time(fast_farm: MeterFarm) -> None:
    m = fast_farm.add(EmulatedMeter("fast", power_w=1000.0))
    imp0, _ = m.energy_wh()
    s0 = fast_farm.sim_now()
    time.sleep(0.3)
    imp1, _ = m.energy_wh()
    sim_h = (fast_farm.sim_now() - s0) / 3600
    assert sim_h == pytest.approx(0.3, rel=0.2)
    assert imp1 - imp0 == pytest.approx(1000 * sim_h, rel=0.02)


def test_output_is_paced_to_the_baud_rate(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("paced", power_w=100.0))
    link = NativeLink.open(m.port)
    try:
        link.send(fm.sysex(fm.SAMPLING_INTERVAL, bytes((1, 0))))
        link.send(b"".join(bytes((0xC0 | ch, 1)) for ch in range(6)))
        link.receive(0.2)
        b0, t0 = link.stats().bytes_in, time.monotonic()
        while time.monotonic() - t0 < 1.0:
            link.receive(0.05)
        rate = (link.stats().bytes_in - b0) / (time.monotonic() - t0)
    finally:
        link.close()
    assert rate <= 5760 * 1.03  # never faster than the wire
    assert rate >= 5760 * 0.5  # and it does stream (the benchmark measures the fraction)


def test_many_meters_each_on_its_own_pty(farm: MeterFarm) -> None:
    ems = [farm.add(EmulatedMeter(f"m{i}", power_w=100.0 * i)) for i in range(12)]
    assert len({m.pty_name for m in ems}) == 12
    for i in (0, 5, 11):
        with FirmataMeter.open(ems[i].port) as d:
            assert d.identity().meter_id == f"m{i}"
            assert d.read().power_w == pytest.approx(100.0 * i)


@pytest.mark.parametrize("backend", ["native", "pyfirmata2"])
def test_unplug_and_replug(farm: MeterFarm, backend: str) -> None:
    m = farm.add(EmulatedMeter("plug", power_w=500.0))
    d = FirmataMeter.open(m.port, backend=backend)
    m.unplug()
    assert not Path(m.port).exists()
    with pytest.raises(TransportError):
        d.read()
    d.close()
    with pytest.raises(TransportError, match="cannot open"):
        FirmataMeter.open(m.port)
    m.replug()
    with FirmataMeter.open(m.port, backend=backend) as d2:
        assert d2.read().power_w == pytest.approx(500.0)
    assert os.path.realpath(m.port) == m.pty_name


def test_unplug_with_automatic_replug(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("auto", power_w=500.0))
    m.unplug(0.3)
    time.sleep(0.5)
    with FirmataMeter.open(m.port) as d:
        assert d.identity().meter_id == "auto"


def test_stall_silences_the_link_then_recovers(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("stall", power_w=500.0))
    with FirmataMeter.open(m.port, timeout_s=0.3) as d:
        m.stall(0.6)
        with pytest.raises(TransportError, match="did not answer"):
            d.read()
        time.sleep(0.5)
        assert d.read().power_w == pytest.approx(500.0)


def test_wrong_firmware_is_refused_with_advice(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("wrong", faults=Faults(wrong_firmware=True)))
    with pytest.raises(DeviceError, match=r"wrong firmware.*StandardFirmata"):
        FirmataMeter.open(m.port)


def test_noise_and_drift(fast_farm: MeterFarm) -> None:
    noisy = fast_farm.add(
        EmulatedMeter("noisy", power_w=1000.0, faults=Faults(noise_fraction=0.02))
    )
    drifting = fast_farm.add(
        EmulatedMeter("drift", power_w=1000.0, faults=Faults(drift_per_h=0.01))
    )
    with FirmataMeter.open(noisy.port) as d:
        volts = [d.read().voltage_v for _ in range(40)]
    assert statistics.pstdev(volts) / 230 == pytest.approx(0.02, rel=0.5)
    with FirmataMeter.open(drifting.port) as d:
        v0 = d.read().voltage_v
        time.sleep(0.5)  # half a simulated hour
        v1 = d.read().voltage_v
    assert v1 > v0 * 1.002


@pytest.mark.parametrize("fault", ["garbage_rate", "drop_rate", "truncate_rate"])
def test_damaged_streams_still_deliver_readings(farm: MeterFarm, fault: str) -> None:
    m = farm.add(EmulatedMeter("faulty", power_w=700.0, seed=7))
    with FirmataMeter.open(m.port) as d:
        m.set_faults(**{fault: 0.3})
        d.start_stream(0.02)
        got = []
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            got += d.next_readings(0.1)
        stats = d.stats()
    assert len(got) > 10
    assert all(r.power_w == pytest.approx(700.0) for r in got)
    if fault == "drop_rate":
        assert m.stats.frames_dropped > 0
        assert any(b.seq - a.seq > 1 for a, b in itertools.pairwise(got))
    else:
        assert stats.malformed + stats.skipped_bytes > 0


def test_tcp_meter_accepts_a_new_connection(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("tcp", power_w=42.0, tcp=True))
    assert m.port.startswith("socket://127.0.0.1:")
    with FirmataMeter.open(m.port) as d:
        assert d.read().power_w == pytest.approx(42.0)
    with FirmataMeter.open(m.port) as d:
        assert d.identity().meter_id == "tcp"


def test_config_errors_are_explained() -> None:
    with pytest.raises(ConfigError, match="invalid"):
        EmulatedMeter("has space")
    with MeterFarm() as f:
        f.add(EmulatedMeter("dup"))
        with pytest.raises(ConfigError, match="unique"):
            f.add(EmulatedMeter("dup"))
        with pytest.raises(ConfigError, match="unknown fault"):
            f.meters["dup"].set_faults(bogus=1.0)


def test_tcp_unplug_refuses_connections_until_replug(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("tcp-plug", power_w=42.0, tcp=True))
    port = m.port
    d = FirmataMeter.open(port)
    m.unplug(0.4)
    with pytest.raises(TransportError):
        d.read()
    d.close()
    with pytest.raises(TransportError, match="cannot open"):
        FirmataMeter.open(port)
    time.sleep(0.6)
    assert m.port == port
    with FirmataMeter.open(port) as d2:
        assert d2.read().power_w == pytest.approx(42.0)
