"""``gridbench emulate run --mqtt``: meters in several processes publish to a real broker."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import pytest

from bench.transport.mosquitto import Mosquitto
from bench.transport.mqtt_link import Broker, MqttHub


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

    assert broker.proc is not None
    step = mqtt_step(broker.url, 12, 3.0, hz=2.0, broker_pid=broker.proc.pid, checkpoint_every=2)
    assert step["online"] == 12
    assert step["lost"] == 0
    assert step["meter_hz"] == pytest.approx(2.0, rel=0.2)
    assert 0 < step["p99_latency_ms"] < 5000
    # a checkpoint every 2 readings, each signature checked by the bench
    assert step["checkpoints"] == pytest.approx(12 * 2.0 * 3.0 / 2, rel=0.25)
    assert step["lost_checkpoints"] == step["bad_signatures"] == 0
    assert keeps_up(step) == (step["p99_latency_ms"] <= 500)
    parts = step["cpu_us_per_reading"]
    assert parts["hub_verify"] > 0 and parts["meters"] > 0 and parts["broker"] >= 0
    assert parts["total"] == pytest.approx(sum(v for k, v in parts.items() if k != "total"))
    # the parts of the bench add up to the bench process's CPU
    bench_us = step["bench_cores"] * 3.0 / (step["meter_hz"] * 12 * 3.0) * 1e6
    hub_parts = ("hub_paho", "hub_decode", "hub_queue", "hub_verify", "bench_other")
    assert sum(parts[k] for k in hub_parts) == pytest.approx(bench_us, rel=0.05)


def test_the_benchmark_checks_each_checkpoint_signature() -> None:
    """The oracle: a checkpoint the meter signed verifies; one with a changed counter
    or signature does not, and is counted."""
    from bench.emulator.mqtt_benchmark import _Tally
    from bench.emulator.mqtt_fleet import MqttEmulatedMeter

    meter = MqttEmulatedMeter("m1", power_w=3600.0)
    meter.device.boot(time.monotonic())
    tally = _Tally()
    tally.counting = True
    good = [meter.checkpoint_payload(time.monotonic()) for _ in range(3)]
    assert all(good)
    for c in good:
        tally("m1", "checkpoint", c)
    assert tally.checkpoints == {"m1": {c["seq"] for c in good}} and tally.bad_signatures == 0
    forged = dict(good[-1], seq=good[-1]["seq"] + 1, import_wh=good[-1]["import_wh"] + 5)
    tally("m1", "checkpoint", forged)
    broken = dict(good[0], r="00" * 32)
    tally("m1", "checkpoint", broken)
    assert tally.bad_signatures == 2
    assert tally.checkpoints["m1"] == {c["seq"] for c in good}
    assert tally.verify_cpu_s > 0


@pytest.mark.slow
def test_emulate_run_injects_link_faults_over_the_broker(broker: Mosquitto) -> None:
    """``--fault``: drops are gaps in seq, each reboot a boot count the bench sees, an
    unplug the meter's last will (what the processes log is the oracle)."""
    readings: dict[str, list[tuple[int, int]]] = {}
    statuses: dict[str, list[dict[str, Any]]] = {}

    def listen(meter_id: str, leaf: str, payload: dict[str, Any]) -> None:
        if leaf == "reading":
            readings.setdefault(meter_id, []).append((payload["boot_count"], payload["seq"]))

    hub = MqttHub(Broker.from_url(broker.url), prefix="lf")
    hub.listeners.append(listen)
    names = [f"meter-{i}" for i in range(1, 5)]
    with hub:
        original = hub._on_message

        def on_message(c: Any, u: Any, msg: Any) -> None:  # every status, not the last
            if msg.topic.endswith("/status"):
                statuses.setdefault(msg.topic.split("/")[2], []).append(json.loads(msg.payload))
            original(c, u, msg)

        hub.client.on_message = on_message
        cmd = [sys.executable, "-m", "gridbench", "emulate", "run", "--mqtt", broker.url]
        cmd += ["--meters", "4", "--processes", "2", "--prefix", "lf", "--power-w", "100"]
        cmd += ["--interval", "0.1", "--duration", "12", "--fault", "drop_rate=0.2"]
        cmd += ["--fault", "reboot_every_s=4", "--fault", "unplug_every_s=4"]
        cmd += ["--fault", "unplug_s=0.5", "--fault", "stall_every_s=4", "--fault", "stall_s=0.5"]
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
        assert proc.returncode == 0, proc.stderr
        # the processes are gone, their goodbyes with the broker: the hub gets them in
        # order, after any last will of an unplug near the end
        deadline = time.monotonic() + 10.0
        logged = [line.split()[1:3] for line in proc.stderr.splitlines() if line[:6] == "fault:"]
        # a meter the stop found unplugged (or still reconnecting after it) has no link
        # to say goodbye on: the broker's last word for it is its will, ``lost``
        unplugged_last = {n for n in names if [k for m, k in logged if m == n][-1:] == ["unplug"]}
        goodbyes = {n: [{"state": "offline", "reason": "stopped"}] for n in names}
        for n in unplugged_last:
            goodbyes[n].append({"state": "offline", "reason": "lost"})
        while time.monotonic() < deadline and not all(
            statuses.get(n, [{}])[-1] in goodbyes[n] for n in names
        ):
            time.sleep(0.05)
    assert {kind for _, kind in logged} == {"reboot", "unplug", "stall"}
    lost_total = gaps = 0
    for n in names:
        reboots = sum(1 for m, k in logged if m == n and k == "reboot")
        unplugs = sum(1 for m, k in logged if m == n and k == "unplug")
        boots = sorted({s["boot_count"] for s in statuses[n] if s["state"] == "online"})
        assert boots == list(range(boots[0], boots[0] + reboots + 1)), (n, boots, reboots)
        # an unplug while the meter is still connecting has no will to fire
        lost = sum(1 for s in statuses[n] if s.get("reason") == "lost")
        assert lost <= unplugs
        lost_total += lost
        assert statuses[n][-1] in goodbyes[n], (n, statuses[n][-1], logged)
        for seqs in _per_boot(readings[n]).values():
            first = list(dict.fromkeys(seqs))  # QoS 1 resends what an unplug left unacked
            assert first == sorted(first)  # in order within a boot
            gaps += first[-1] - len(first)
    assert lost_total > 0
    assert gaps > 0  # 20 % of the readings dropped


def _per_boot(readings: list[tuple[int, int]]) -> dict[int, list[int]]:
    out: dict[int, list[int]] = {}
    for boot, seq in readings:
        out.setdefault(boot, []).append(seq)
    return out
