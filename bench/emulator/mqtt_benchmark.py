"""``gridbench emulate bench --mqtt``: how many meters one bench reads through mosquitto.

Meters in ≥ 4 processes publish a JSON reading each second to a private mosquitto; the
bench's hub (this process) puts each one on its queue. Per step: readings per meter per
second, readings lost (gaps in each meter's ``seq``), the p99 latency from publish to
the bench's queue, and the CPU share of the bench process and of the meter processes.
Steps rise until the bench stops keeping up (under 95 % of the rate, a loss, or p99
over 500 ms). The pty path (one poller thread per meter) at the first step's meter
count is measured in the same run as the baseline.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any

from bench.emulator.benchmark import capacity
from bench.emulator.mqtt_procs import MeterProcesses, MqttOptions
from bench.transport.mosquitto import Mosquitto
from bench.transport.mqtt_link import Broker, MqttHub

PROCESSES = 4
P99_LIMIT_MS = 500.0
RATE_FLOOR = 0.95


class _Tally:
    """What the bench received in the counting window."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counting = False
        self.latencies_ms: list[float] = []
        self.seqs: dict[str, set[int]] = {}
        self.queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()

    def __call__(self, meter_id: str, leaf: str, payload: dict[str, Any]) -> None:
        if leaf != "reading":
            return
        self.queue.put(payload)  # the bench's queue: latency ends here
        latency_ms = (time.time() - payload["sent_unix_s"]) * 1000
        with self.lock:
            if self.counting:
                self.latencies_ms.append(latency_ms)
                self.seqs.setdefault(meter_id, set()).add(payload["seq"])


def _p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(0.99 * len(ordered)))] if ordered else float("inf")


def mqtt_step(url: str, meters: int, duration_s: float, hz: float = 1.0) -> dict[str, Any]:
    """One step: ``meters`` meters in :data:`PROCESSES` processes, for ``duration_s``."""
    prefix = f"bench{meters}"
    tally = _Tally()
    hub = MqttHub(Broker.from_url(url), prefix=prefix, client_id=f"gridbench-bench-{prefix}")
    hub.listeners.append(tally)
    names = [f"m{i}" for i in range(meters)]
    with hub:
        before = os.times()
        procs = MeterProcesses(
            names,
            MqttOptions(url, prefix, power_w=500.0, interval_s=1 / hz, checkpoint_every=0),
            PROCESSES,
        )
        try:
            deadline = time.monotonic() + 60 + meters * 0.02
            while time.monotonic() < deadline and sum(map(hub.online, names)) < meters:
                time.sleep(0.2)
            online = sum(map(hub.online, names))
            time.sleep(2 / hz)  # every meter past its first readings
            cpu0, t0 = time.process_time(), time.monotonic()
            with tally.lock:
                tally.counting = True
            time.sleep(duration_s)
            with tally.lock:
                tally.counting = False
            cpu, elapsed = time.process_time() - cpu0, time.monotonic() - t0
        finally:
            procs.stop()
        after = os.times()
    received = sum(len(s) for s in tally.seqs.values())
    lost = sum(max(s) - min(s) + 1 - len(s) for s in tally.seqs.values() if s)
    silent = meters - len(tally.seqs)
    cores = os.cpu_count() or 1
    emulator_s = (after.children_user + after.children_system) - (
        before.children_user + before.children_system
    )
    return {
        "meters": meters,
        "online": online,
        "meter_hz": received / (meters * elapsed),
        "target_hz": hz,
        "lost": lost + silent * int(duration_s * hz),
        "p99_latency_ms": _p99(tally.latencies_ms),
        "cpu_fraction": cpu / (elapsed * cores),
        "emulator_cpu_s": emulator_s,  # the meter processes, start to goodbye
    }


def keeps_up(step: dict[str, Any]) -> bool:
    """The bench read every meter at its rate, lost nothing, p99 within the limit."""
    return (
        step["meter_hz"] >= RATE_FLOOR * step["target_hz"]
        and step["lost"] == 0
        and step["p99_latency_ms"] <= P99_LIMIT_MS
    )


def run_mqtt_benchmark(*, quick: bool = False) -> dict[str, Any]:
    """Rising steps over one mosquitto, and the pty path at the first step's count."""
    steps = [50, 200] if quick else [100, 500, 1000, 2000, 5000, 10_000]
    duration = 5.0 if quick else 10.0
    results = []
    with Mosquitto() as broker:
        for n in steps:
            step = mqtt_step(broker.url, n, duration)
            results.append(step)
            if not keeps_up(step):
                break
    pty = capacity(steps[0], duration, hz=1.0)
    kept = [s for s in results if keeps_up(s)]
    best = kept[-1] if kept else results[0]
    return {
        "mqtt_meters": best["meters"],
        "mqtt_meter_hz": best["meter_hz"],
        "mqtt_lost": best["lost"],
        "mqtt_p99_latency_ms": best["p99_latency_ms"],
        "mqtt_cpu_fraction": best["cpu_fraction"],
        "mqtt_knee_meters": None if keeps_up(results[-1]) else results[-1]["meters"],
        "mqtt_steps": results,
        "pty": pty,
        "quick": quick,
    }


def format_mqtt_table(r: dict[str, Any]) -> str:
    """Steps, with CPU per meter against the pty path's at the first step's count."""
    pty = r["pty"]
    pty_per = pty["cpu_cores"] / pty["meters"]
    lines = [
        f"meters over mosquitto, {PROCESSES} emulator processes, 1 reading/s each",
        f"{'meters':>8}{'rd/s/m':>8}{'lost':>7}{'p99 ms':>9}{'bench CPU':>11}"
        f"{'CPU/meter':>11}{'vs pty':>8}{'emu CPU s':>11}",
    ]
    cores = os.cpu_count() or 1
    for s in r["mqtt_steps"]:
        per = s["cpu_fraction"] * cores / s["meters"]
        lines.append(
            f"{s['meters']:>8d}{s['meter_hz']:>8.3f}{s['lost']:>7d}{s['p99_latency_ms']:>9.1f}"
            f"{s['cpu_fraction']:>11.3f}{per:>11.5f}{per / pty_per if pty_per else 0:>8.2f}"
            f"{s['emulator_cpu_s']:>11.1f}"
        )
    lines.append(
        f"pty path, {pty['meters']} meters at 1 reading/s in one process: "
        f"{pty['meter_hz']:.3f} rd/s/meter, {pty['frames_lost']} lost, CPU share "
        f"{pty['cpu_fraction']:.3f} (emulator included), {pty_per:.5f} cores/meter"
    )
    knee = r["mqtt_knee_meters"]
    lines.append(
        f"kept up to {r['mqtt_meters']} meters"
        + (f"; not at {knee}" if knee else "")
        + " (bench CPU: share of the machine used by this process's hub; CPU/meter: its "
        "cores per meter, vs pty: against the pty path's; emu CPU s: the meter processes "
        "from start to goodbye)"
    )
    return "\n".join(lines)
