"""``gridbench emulate bench --mqtt``: how many meters one bench reads through mosquitto.

Meters in ≥ 4 processes publish a JSON reading each second to a private mosquitto; the
bench's hub (this process) puts each one on its queue. Per step: readings per meter per
second, readings lost (gaps in each meter's ``seq``), the latency from publish to the
bench's queue (p50, p99, max), and the CPU of each part over the counting window: the
bench's hub, the broker, the meter processes. Steps rise until the bench stops keeping
up (under 95 % of the rate, a loss, or p99 over 500 ms); the step that fails names the
busiest part (the hub and the broker are one thread each, so one core bounds them).

Baselines from the same run: the latency floor (one message at a time through the same
broker and hub, nothing else publishing) and the pty path (one poller thread per meter,
emulator in process) at the first step's meter count.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from bench.emulator.benchmark import capacity
from bench.emulator.mqtt_fleet import checkpoint_signer
from bench.emulator.mqtt_procs import MeterProcesses, MqttOptions
from bench.errors import BenchError, TransportError
from bench.transport.mosquitto import Mosquitto
from bench.transport.mqtt_link import QOS, Broker, MqttHub, new_client, topic

PROCESSES = 4
P99_LIMIT_MS = 500.0
RATE_FLOOR = 0.95
FLOOR_MESSAGES = 100
STEPS = (100, 500, 1000, 2000, 5000, 10_000)
QUICK_STEPS = (50, 200)
CHECKPOINT_EVERY = 10
"""A signed checkpoint every 10 readings, as ``gridbench emulate run`` by default."""
TARGET_METERS = 10_000


class _Tally:
    """What the bench received in the counting window, and the CPU its hub's thread
    spent on it: queueing each reading, checking each checkpoint's signature."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.counting = False
        self.latencies_ms: list[float] = []
        self.seqs: dict[str, set[int]] = {}
        self.checkpoints: dict[str, set[int]] = {}
        self.signers: dict[str, str] = {}
        self.bad_signatures = 0
        self.queue: queue.SimpleQueue[dict[str, Any]] = queue.SimpleQueue()
        self.listen_cpu_s = 0.0
        self.verify_cpu_s = 0.0

    def __call__(self, meter_id: str, leaf: str, payload: dict[str, Any]) -> None:
        t0 = time.thread_time()
        if leaf == "checkpoint":
            self._checkpoint(meter_id, payload)
            self.listen_cpu_s += time.thread_time() - t0
            return
        if leaf != "reading":
            return
        self.queue.put(payload)  # the bench's queue: latency ends here
        latency_ms = (time.time() - payload["sent_unix_s"]) * 1000
        with self.lock:
            if self.counting:
                self.latencies_ms.append(latency_ms)
                self.seqs.setdefault(meter_id, set()).add(payload["seq"])
        self.listen_cpu_s += time.thread_time() - t0

    def _checkpoint(self, meter_id: str, c: dict[str, Any]) -> None:
        """The bench's check of a checkpoint: the meter's own signature (the same
        signer as its earlier ones)."""
        t0 = time.thread_time()
        try:
            signer = checkpoint_signer(meter_id, c)
        except (KeyError, ValueError):
            signer = ""
        self.verify_cpu_s += time.thread_time() - t0
        with self.lock:
            if signer and self.signers.setdefault(meter_id, signer) == signer:
                if self.counting:
                    self.checkpoints.setdefault(meter_id, set()).add(c["seq"])
            elif self.counting:
                self.bad_signatures += 1


class _TimedHub(MqttHub):
    """The bench's hub, also counting the CPU its thread spends handling messages
    (payload decode and listeners), so the rest of its thread is paho's loop."""

    handle_cpu_s = 0.0

    def _on_message(self, c: Any, u: Any, msg: Any) -> None:
        t0 = time.thread_time()
        super()._on_message(c, u, msg)
        self.handle_cpu_s += time.thread_time() - t0


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (nearest rank) of ``values``; inf when there are none."""
    ordered = sorted(values)
    if not ordered:
        return float("inf")
    return ordered[min(len(ordered) - 1, max(0, int(q * len(ordered) + 0.5) - 1))]


def cpu_s(pid: int, tid: int | None = None) -> float | None:
    """User + system CPU seconds of process ``pid`` (or of its thread ``tid``) so far
    (None if it is gone)."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_ticks() -> tuple[int, int]:
    """(busy, total) CPU ticks of the whole machine so far (/proc/stat)."""
    try:
        first = Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]
    except OSError:
        return 0, 0
    ticks = [int(v) for v in first[:8]]
    return sum(ticks) - ticks[3] - ticks[4], sum(ticks)  # idle and iowait are not busy


def latency_floor(url: str, messages: int = FLOOR_MESSAGES) -> dict[str, float]:
    """One reading at a time from a client to the hub through the broker: p50 and p99 ms."""
    broker = Broker.from_url(url)
    tally = _Tally()
    tally.counting = True
    hub = MqttHub(broker, prefix="floor", client_id="gridbench-bench-floor")
    hub.listeners.append(tally)
    sender = new_client(broker, "gridbench-floor-sender", clean=True)
    with hub:
        sender.connect(broker.host, broker.port, broker.keepalive_s)
        sender.loop_start()
        try:
            for _ in range(40):  # until the hub's subscription is in place
                warmup = json.dumps({"seq": 0, "sent_unix_s": time.time()})
                sender.publish(topic("floor", "m0", "reading"), warmup, qos=QOS)
                with contextlib.suppress(queue.Empty):
                    tally.queue.get(timeout=0.5)
                    break
            else:
                raise TransportError(f"the broker at {url} delivered nothing within 20 s")
            tally.latencies_ms.clear()
            for seq in range(1, messages + 1):
                payload = json.dumps({"seq": seq, "sent_unix_s": time.time()})
                sender.publish(topic("floor", "m0", "reading"), payload, qos=QOS)
                try:
                    tally.queue.get(timeout=5.0)
                except queue.Empty:
                    break
        finally:
            sender.disconnect()
            sender.loop_stop()
    lat = tally.latencies_ms
    return {"p50_ms": percentile(lat, 0.5), "p99_ms": percentile(lat, 0.99), "n": len(lat)}


def _cores(
    before: dict[str, float | None], after: dict[str, float | None], elapsed_s: float
) -> dict[str, float]:
    """Cores each process used between the two samples (those alive at both)."""
    out = {}
    for k, b in before.items():
        a = after.get(k)
        if a is not None and b is not None:
            out[k] = (a - b) / elapsed_s
    return out


def mqtt_step(
    url: str,
    meters: int,
    duration_s: float,
    hz: float = 1.0,
    *,
    broker_pid: int | None = None,
    processes: int = PROCESSES,
    checkpoint_every: int = CHECKPOINT_EVERY,
) -> dict[str, Any]:
    """One step: ``meters`` meters in ``processes`` processes, counted for ``duration_s``;
    each meter signs a checkpoint every ``checkpoint_every`` readings (0: none), which
    the bench checks."""
    prefix = f"bench{meters}"
    tally = _Tally()
    hub = _TimedHub(Broker.from_url(url), prefix=prefix, client_id=f"gridbench-bench-{prefix}")
    hub.listeners.append(tally)
    names = [f"m{i}" for i in range(meters)]
    online, elapsed, error, machine_busy = 0, duration_s, "", None
    cores: dict[str, float] = {}
    cpu_bench = hub_thread = handle = listen = verify = 0.0
    reads = messages = 0
    with hub:
        procs = MeterProcesses(
            names,
            MqttOptions(
                url, prefix, power_w=500.0, interval_s=1 / hz, checkpoint_every=checkpoint_every
            ),
            processes,
        )
        try:
            deadline = time.monotonic() + 60 + meters * 0.02
            while time.monotonic() < deadline and procs.alive():
                if sum(map(hub.online, names)) == meters:
                    break
                time.sleep(0.2)
            online = sum(map(hub.online, names))
            time.sleep(2 / hz)  # every meter past its first readings
            pids = {p.name: p.pid for p in procs.procs if p.pid is not None}
            if broker_pid is not None:
                pids["broker"] = broker_pid
            me, tid = os.getpid(), hub._thread.native_id if hub._thread else None
            before = {k: cpu_s(pid) for k, pid in pids.items()}
            busy0, total0 = machine_ticks()
            thread0 = cpu_s(me, tid) or 0.0
            handle0, listen0, verify0 = hub.handle_cpu_s, tally.listen_cpu_s, tally.verify_cpu_s
            reads0, messages0 = hub.reads, hub.messages
            cpu0, t0 = time.process_time(), time.monotonic()
            with tally.lock:
                tally.counting = True
            time.sleep(duration_s)
            with tally.lock:
                tally.counting = False
            cpu_bench, elapsed = time.process_time() - cpu0, time.monotonic() - t0
            hub_thread = (cpu_s(me, tid) or 0.0) - thread0
            handle = hub.handle_cpu_s - handle0
            listen, verify = tally.listen_cpu_s - listen0, tally.verify_cpu_s - verify0
            reads, messages = hub.reads - reads0, hub.messages - messages0
            cores = _cores(before, {k: cpu_s(pid) for k, pid in pids.items()}, elapsed)
            busy1, total1 = machine_ticks()
            machine_busy = (busy1 - busy0) / (total1 - total0) if total1 > total0 else None
        finally:
            try:
                procs.stop()
            except BenchError as exc:  # a step the machine could not serve is its result
                error = str(exc)
    received = sum(len(s) for s in tally.seqs.values())
    lost = sum(max(s) - min(s) + 1 - len(s) for s in tally.seqs.values() if s)
    lost_checkpoints = sum(max(s) - min(s) + 1 - len(s) for s in tally.checkpoints.values() if s)
    silent = meters - len(tally.seqs)
    emulator = [v for k, v in cores.items() if k != "broker"]
    lat = tally.latencies_ms
    parts = {  # CPU seconds over the window, by part
        "meters": sum(emulator) * elapsed if emulator else None,
        "broker": cores["broker"] * elapsed if "broker" in cores else None,
        "hub_paho": hub_thread - handle,
        "hub_decode": handle - listen,
        "hub_queue": listen - verify,
        "hub_verify": verify,
        "bench_other": cpu_bench - hub_thread,
    }
    per_reading_us = {
        k: (v / received * 1e6 if received and v is not None else None) for k, v in parts.items()
    }
    known = [v for v in per_reading_us.values() if v is not None]
    per_reading_us["total"] = sum(known) if known and len(known) == len(parts) else None
    return {
        "meters": meters,
        "online": online,
        "meter_hz": received / (meters * elapsed),
        "target_hz": hz,
        "lost": lost + silent * int(duration_s * hz),
        "checkpoint_every": checkpoint_every,
        "checkpoints": sum(len(s) for s in tally.checkpoints.values()),
        "lost_checkpoints": lost_checkpoints,
        "bad_signatures": tally.bad_signatures,
        "p50_latency_ms": percentile(lat, 0.5),
        "p99_latency_ms": percentile(lat, 0.99),
        "max_latency_ms": max(lat, default=float("inf")),
        "bench_cores": cpu_bench / elapsed,
        "cpu_fraction": cpu_bench / (elapsed * (os.cpu_count() or 1)),
        "broker_cores": cores.get("broker"),
        "emulator_cores": sum(emulator) if emulator else None,
        "emulator_max_process_cores": max(emulator, default=None),
        "cpu_us_per_reading": per_reading_us,
        "cores_for_target": (
            per_reading_us["total"] * TARGET_METERS * hz / 1e6
            if per_reading_us["total"] is not None
            else None
        ),
        "hub_messages_per_read": messages / reads if reads else None,
        "machine_busy_fraction": machine_busy,
        "load_average": os.getloadavg()[0],
        "error": error,
    }


def keeps_up(step: dict[str, Any]) -> bool:
    """The bench read every meter at its rate, lost nothing (readings, checkpoints, a
    signature), p99 within the limit."""
    return (
        not step["error"]
        and step["meter_hz"] >= RATE_FLOOR * step["target_hz"]
        and step["lost"] == 0
        and step["lost_checkpoints"] == 0
        and step["bad_signatures"] == 0
        and step["p99_latency_ms"] <= P99_LIMIT_MS
    )


def bound(step: dict[str, Any]) -> str:
    """What held a step back: the machine when its cores were all busy (with this run's
    parts or with other work), else the part nearest its limit (the hub, the broker and
    each meter process are one thread each: one core bounds them)."""
    cores = os.cpu_count() or 1
    parts = {
        "the bench's hub (one thread)": step["bench_cores"],
        "the broker (one thread)": step["broker_cores"] or 0.0,
        "a meter process (one thread)": step["emulator_max_process_cores"] or 0.0,
    }
    busiest = max(parts, key=lambda k: parts[k])
    used = sum(parts.values()) - parts["a meter process (one thread)"]
    used += step["emulator_cores"] or 0.0
    busy = step["machine_busy_fraction"]
    if busy is not None and busy >= 0.9:
        return (
            f"the machine: its {cores} cores were {busy:.0%} busy (load average "
            f"{step['load_average']:.1f}), {used:.2f} cores of it this run's"
        )
    return f"{busiest} at {parts[busiest]:.2f} cores"


def run_mqtt_benchmark(*, quick: bool = False) -> dict[str, Any]:
    """The latency floor, rising steps over one mosquitto, the pty path at the first
    step's count."""
    steps = QUICK_STEPS if quick else STEPS
    duration = 5.0 if quick else 10.0
    results = []
    with Mosquitto() as broker:
        assert broker.proc is not None
        floor = latency_floor(broker.url)
        for n in steps:
            step = mqtt_step(broker.url, n, duration, broker_pid=broker.proc.pid)
            step["p99_vs_floor"] = step["p99_latency_ms"] / floor["p50_ms"]
            step["bound"] = bound(step)
            results.append(step)
            if not keeps_up(step):
                break
    pty = capacity(steps[0], duration, hz=1.0)
    kept = [s for s in results if keeps_up(s)]
    best = kept[-1] if kept else results[0]
    knee = None if keeps_up(results[-1]) else results[-1]
    return {
        "mqtt_meters": best["meters"] if kept else 0,
        "mqtt_meter_hz": best["meter_hz"],
        "mqtt_lost": best["lost"],
        "mqtt_p99_latency_ms": best["p99_latency_ms"],
        "mqtt_p99_vs_floor": best["p99_vs_floor"],
        "mqtt_cpu_fraction": best["cpu_fraction"],
        "mqtt_cpu_us_per_reading": best["cpu_us_per_reading"],
        "mqtt_cores_for_target": best["cores_for_target"],
        "mqtt_knee_meters": knee["meters"] if knee else None,
        "mqtt_knee_bound": knee["bound"] if knee else None,
        "mqtt_latency_floor_ms": floor["p50_ms"],
        "mqtt_latency_floor_p99_ms": floor["p99_ms"],
        "mqtt_steps": results,
        "pty": pty,
        "processes": PROCESSES,
        "quick": quick,
    }


def format_mqtt_table(r: dict[str, Any]) -> str:
    """Steps, with latency against the floor and CPU per meter against the pty path."""
    pty = r["pty"]
    pty_per = pty["cpu_cores"] / pty["meters"]
    lines = [
        f"meters over mosquitto, {r['processes']} emulator processes, 1 reading/s each; "
        f"latency floor (one message at a time) p50 {r['mqtt_latency_floor_ms']:.1f} ms, "
        f"p99 {r['mqtt_latency_floor_p99_ms']:.1f} ms",
        f"{'meters':>7}{'rd/s/m':>8}{'lost':>7}{'p50 ms':>9}{'p99 ms':>9}{'p99/flr':>9}"
        f"{'hub cor':>9}{'vs pty':>8}{'broker':>8}{'meters':>8}{'load':>6}",
    ]

    def fmt(v: float | None) -> str:
        return f"{v:>8.2f}" if v is not None else f"{'-':>8}"

    for s in r["mqtt_steps"]:
        per = s["bench_cores"] / s["meters"]
        lines.append(
            f"{s['meters']:>7d}{s['meter_hz']:>8.3f}{s['lost']:>7d}{s['p50_latency_ms']:>9.1f}"
            f"{s['p99_latency_ms']:>9.1f}{s['p99_vs_floor']:>9.1f}{s['bench_cores']:>9.3f}"
            f"{per / pty_per if pty_per else 0:>8.2f}{fmt(s['broker_cores'])}"
            f"{fmt(s['emulator_cores'])}{s['load_average']:>6.1f}"
            + (f"  ({s['error']})" if s["error"] else "")
        )
    lines.append(
        f"pty path, {pty['meters']} meters at 1 reading/s in one process: "
        f"{pty['meter_hz']:.3f} rd/s/meter, {pty['frames_lost']} lost, "
        f"{pty['cpu_cores']:.3f} cores (emulator included), {pty_per:.5f} cores/meter"
    )
    lines.append(
        f"CPU µs per reading, by part (checkpoint every {r['mqtt_steps'][0]['checkpoint_every']} "
        f"readings), and the cores {TARGET_METERS:,} meters at 1 Hz would need:"
    )
    names = list(r["mqtt_steps"][0]["cpu_us_per_reading"])
    lines.append(f"{'meters':>7}" + "".join(f"{n:>12}" for n in names) + f"{'cores@10k':>11}")
    for s in r["mqtt_steps"]:
        per = s["cpu_us_per_reading"]
        lines.append(
            f"{s['meters']:>7d}"
            + "".join(f"{per[n]:>12.1f}" if per[n] is not None else f"{'-':>12}" for n in names)
            + (f"{s['cores_for_target']:>11.2f}" if s["cores_for_target"] is not None else "")
        )
    knee = r["mqtt_knee_meters"]
    lines.append(
        f"kept up to {r['mqtt_meters']} meters"
        + (f"; not at {knee}, bound by {r['mqtt_knee_bound']}" if knee else "")
        + " (cores over the counting window: hub = this process, broker = mosquitto, "
        "meters = the emulator processes together; vs pty: the hub's cores per meter "
        "against the pty path's; load: the 1-minute load average)"
    )
    return "\n".join(lines)
