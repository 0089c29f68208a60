"""Emulated MQTT meters spread over several processes (``gridbench emulate run --mqtt``).

Each process runs one :class:`MqttFleet` for its share of the meters until the parent
sets the stop event (Ctrl-C, ``--duration``), then says goodbye for each meter.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import signal
from dataclasses import dataclass, field, replace
from typing import Any

from bench.config import Faults
from bench.emulator.mqtt_fleet import MqttEmulatedMeter, MqttFleet
from bench.emulator.profile import Profile
from bench.errors import TransportError
from bench.transport.mqtt_link import Broker


@dataclass(frozen=True)
class MqttOptions:
    """What every emulated meter of a run shares."""

    url: str
    prefix: str = "gridbench"
    profile: str | None = None
    power_w: float = 0.0
    interval_s: float = 1.0
    checkpoint_every: int = 10
    speed: float = 1.0
    faults: Faults = field(default_factory=Faults)


def _serve(names: list[str], opts: MqttOptions, stop: Any, seed: int) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops us through ``stop``
    profile = Profile.parse(opts.profile) if opts.profile else None
    meters = [
        MqttEmulatedMeter(
            name, profile, power_w=opts.power_w, faults=replace(opts.faults), seed=seed + i
        )
        for i, name in enumerate(names)
    ]
    fleet = MqttFleet(
        meters,
        Broker.from_url(opts.url),
        prefix=opts.prefix,
        reading_interval_s=opts.interval_s,
        checkpoint_every=opts.checkpoint_every,
        speed=opts.speed,
    )
    with fleet:
        stop.wait()


def run_processes(
    names: list[str], opts: MqttOptions, processes: int, duration_s: float | None
) -> None:
    """Run the meters in ``processes`` processes until Ctrl-C or ``duration_s``."""
    Broker.from_url(opts.url)  # a bad URL fails here, not in every child
    ctx = mp.get_context("spawn")
    stop = ctx.Event()
    shares = [names[i::processes] for i in range(processes)]
    procs = [
        ctx.Process(target=_serve, args=(share, opts, stop, 1000 * i), name=f"mqtt-meters-{i}")
        for i, share in enumerate(shares)
        if share
    ]
    for p in procs:
        p.start()
    try:
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait(duration_s)
    finally:
        stop.set()
        for p in procs:
            p.join(10.0)
            if p.is_alive():
                p.terminate()
                p.join(2.0)
    failed = [p.name for p in procs if p.exitcode not in (0, None)]
    if failed:
        raise TransportError(
            f"meter processes {', '.join(failed)} failed; is the broker at {opts.url} running?"
        )
