"""``gridbench emulate run --mqtt``: meters in several processes publish to a real broker."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.errors import ToolMissingError
from bench.transport.mosquitto import Mosquitto
from bench.transport.mqtt_link import Broker, MqttHub


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    try:
        server = Mosquitto()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    with server:
        yield server


@pytest.mark.slow
def test_emulate_run_spreads_meters_over_processes(broker: Mosquitto) -> None:
    readings: dict[str, list[int]] = {}

    def listen(meter_id: str, leaf: str, payload: dict[str, Any]) -> None:
        if leaf == "reading":
            readings.setdefault(meter_id, []).append(payload["seq"])

    hub = MqttHub(Broker.from_url(broker.url), prefix="cli")
    hub.listeners.append(listen)
    with hub:
        cmd = [sys.executable, "-m", "gridbench", "emulate", "run", "--mqtt", broker.url]
        cmd += ["--meters", "5", "--processes", "2", "--prefix", "cli", "--power-w", "100"]
        cmd += ["--interval", "0.1", "--duration", "30"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            names = [f"meter-{i}" for i in range(1, 6)]
            deadline = time.monotonic() + 60.0
            while time.monotonic() < deadline and not all(
                len(readings.get(n, [])) >= 5 for n in names
            ):
                time.sleep(0.05)
            assert all(len(readings.get(n, [])) >= 5 for n in names), readings
            pids = {hub.status[n]["pid"] for n in names}
            assert len(pids) == 2 and proc.pid not in pids
        finally:
            proc.send_signal(2)  # Ctrl-C: every process says goodbye
            _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        for n in names:
            assert hub.wait_status(n, "offline", 5.0)
            assert hub.status[n]["reason"] == "stopped"
            seqs = readings[n]
            assert seqs == list(range(1, len(seqs) + 1))  # in order, none lost


@pytest.mark.slow
def test_the_mqtt_benchmark_step_counts_every_reading(broker: Mosquitto) -> None:
    from bench.emulator.mqtt_benchmark import keeps_up, mqtt_step

    step = mqtt_step(broker.url, 12, 3.0, hz=2.0)
    assert step["online"] == 12
    assert step["lost"] == 0
    assert step["meter_hz"] == pytest.approx(2.0, rel=0.2)
    assert 0 < step["p99_latency_ms"] < 5000
    assert keeps_up(step) == (step["p99_latency_ms"] <= 500)
