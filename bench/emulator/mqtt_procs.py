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
from bench.emulator.link_faults import LinkFaults, LinkFaultScheduler
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
    link_faults: LinkFaults = field(default_factory=LinkFaults)


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
    with fleet, LinkFaultScheduler(meters, opts.link_faults, seed=seed):
        stop.wait()


class MeterProcesses:
    """The meters spread over ``processes`` processes, running until :meth:`stop`."""

    def __init__(self, names: list[str], opts: MqttOptions, processes: int) -> None:
        Broker.from_url(opts.url)  # a bad URL fails here, not in every child
        self.opts = opts
        ctx = mp.get_context("spawn")
        self.stop_event = ctx.Event()
        shares = [names[i::processes] for i in range(processes)]
        self.procs = [
            ctx.Process(
                target=_serve, args=(share, opts, self.stop_event, 1000 * i), name=f"mqtt-{i}"
            )
            for i, share in enumerate(shares)
            if share
        ]
        for p in self.procs:
            p.start()

    def alive(self) -> bool:
        """Every process is still running."""
        return all(p.is_alive() for p in self.procs)

    def stop(self) -> None:
        """Stop every process (each meter says goodbye); TransportError if one failed."""
        self.stop_event.set()
        for p in self.procs:
            p.join(30.0)
            if p.is_alive():
                p.terminate()
                p.join(2.0)
        failed = [p.name for p in self.procs if p.exitcode not in (0, None)]
        if failed:
            raise TransportError(
                f"meter processes {', '.join(failed)} failed; is the broker at "
                f"{self.opts.url} running?"
            )


def run_processes(
    names: list[str], opts: MqttOptions, processes: int, duration_s: float | None
) -> None:
    """Run the meters in ``processes`` processes until Ctrl-C or ``duration_s``."""
    procs = MeterProcesses(names, opts, processes)
    try:
        with contextlib.suppress(KeyboardInterrupt):
            procs.stop_event.wait(duration_s)
    finally:
        procs.stop()
