"""The simavr runner: several meters at once, live waveform control, pacing, raw ADC."""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.devices.firmata_meter import FirmataMeter
from bench.firmware import SimMeter, Waveform, start_sim_meters
from bench.transport import firmata
from bench.transport.firmata import Analog

SimFactory = Callable[..., tuple[SimMeter, FirmataMeter]]

pytestmark = pytest.mark.firmware


def test_meters_side_by_side_follow_waveform_changes(firmware_images: tuple[Path, Path]) -> None:
    sims = start_sim_meters(2, speed=2.0)
    try:
        assert sims[0].pty_path != sims[1].pty_path
        meters = [FirmataMeter.open(s.pty_path, timeout_s=2.0) for s in sims]
        sims[0].set_waveform(Waveform(v_rms=230, i_rms=2))
        sims[1].set_waveform(Waveform(v_rms=120, i_rms=8, freq=60, phase_deg=180))
        time.sleep(0.8)
        a, b = (m.read() for m in meters)
        assert a.voltage_v == pytest.approx(230, rel=0.005)
        assert a.power_w == pytest.approx(460, rel=0.005)
        assert b.voltage_v == pytest.approx(120, rel=0.005)
        assert b.frequency_hz == pytest.approx(60, abs=0.05)
        assert b.power_w == pytest.approx(-960, rel=0.005)  # exporting
        sims[0].set_waveform(Waveform(v_rms=230, i_rms=0))
        time.sleep(0.4)
        assert meters[0].read().current_a < 0.05
        for m in meters:
            m.close()
    finally:
        for s in sims:
            s.close()


def test_pacing_follows_the_speed_factor(sim_meter_factory: SimFactory) -> None:
    sim, _ = sim_meter_factory(speed=1.0)
    for speed in (1.0, 3.0):
        sim.set_speed(speed)
        t0, w0 = sim.sim_time(), time.monotonic()
        time.sleep(1.0)
        rate = (sim.sim_time() - t0) / (time.monotonic() - w0)
        # never ahead of the requested pace; behind only if the machine is overloaded
        assert 0.8 * speed <= rate <= 1.05 * speed


def test_free_analog_channel_reports_injected_counts(sim_meter_factory: SimFactory) -> None:
    sim, meter = sim_meter_factory(speed=1.0)
    sim.set_adc(3, 777)
    meter.link.send(bytes((firmata.REPORT_ANALOG | 3, 1)))
    values: list[int] = []
    deadline = time.monotonic() + 2.0
    while time.monotonic() < deadline and len(values) < 3:
        values += [m.value for m in meter.link.receive(0.1) if isinstance(m, Analog)]
    meter.link.send(bytes((firmata.REPORT_ANALOG | 3, 0)))
    assert values and all(v == 777 for v in values)


def test_cli_registers_firmware_actions() -> None:
    from bench.cli import firmware

    parser = argparse.ArgumentParser()
    firmware.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["firmware", "emulate", "--meters", "3", "--speed", "2"])
    assert (args.meters, args.speed) == (3, 2.0)
    args = parser.parse_args(["firmware", "bench", "--json", "--quick"])
    assert args.json and args.quick
    args = parser.parse_args(["firmware", "flash", "--port", "/dev/ttyACM0", "--board", "mega"])
    assert (args.port, args.board) == ("/dev/ttyACM0", "mega")


CLI = """
import argparse, sys
from bench.cli import firmware
p = argparse.ArgumentParser()
firmware.register(p.add_subparsers())
a = p.parse_args(sys.argv[1:])
sys.exit(a.func(a))
"""


def test_cli_emulate_serves_meters_until_interrupted(firmware_images: tuple[Path, Path]) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, "firmware", "emulate", "--meters", "2"],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    lines = [proc.stdout.readline() for _ in range(3)]
    ptys = [line.split(": ")[1].strip() for line in lines[:2]]
    with FirmataMeter.open(ptys[1], timeout_s=2.0) as meter:
        assert meter.identity().firmware_name == "gridmeter"
        assert meter.identity().meter_id == "sim-2"
    assert lines[1].startswith("meter sim-2: ")
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0
    assert "Ctrl-C" in lines[2]


def test_cli_build_reports_size(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.cli import firmware

    assert firmware._build(argparse.Namespace(board="uno")) == 0
    out = capsys.readouterr().out
    assert "gridmeter.hex" in out and "flash " in out and "RAM " in out


def test_firmware_sleeps_when_idle(sim_meter_factory: SimFactory) -> None:
    sim, meter = sim_meter_factory(speed=3.0)
    sim.set_waveform(Waveform(v_rms=230, i_rms=5))
    meter.start_stream(0.1)  # metering, streaming and reporting still leave the CPU idle
    time.sleep(1.0)
    assert len(meter.next_readings(0.2)) >= 5
    meter.stop_stream()
    assert sim.idle_fraction() > 0.6
