"""The scenario's meters: emulated ones started in a farm, every one read by a poller.

Real and emulated meters are driven by the same code: a :class:`MeterPoller` per port
(one reader thread each) puts readings and link events on one queue. The fleet turns
the readings' cumulative counters into per-participant energy with
:class:`EnergyTracker`, so an outage or a reboot loses nothing.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterator
from typing import Any

from bench.config import MeterConfig
from bench.devices import (
    EnergyTracker,
    Meter,
    MeterOnline,
    MeterOutage,
    MeterPoller,
    MeterRebooted,
    MeterReconnected,
    Reading,
)
from bench.devices.discovery import resolve_ports
from bench.devices.generic import GenericFirmataMeter
from bench.emulator import EmulatedMeter, MeterFarm, emulated_meters
from bench.scenario.agents import MeteredEnergy
from bench.scenario.clock import SimClock
from bench.scenario.config import ScenarioConfig

StatusSink = Callable[[float, str, str], None]


class MeterFleet:
    """Every meter of a scenario, with per-participant energy since the last interval."""

    def __init__(
        self,
        config: ScenarioConfig,
        readings: queue.Queue[Any],
        emulated: dict[str, EmulatedMeter],
    ) -> None:
        self._queue = readings
        self._emulated = emulated
        self._participant = {p.meter_id: p.agent.participant for p in config.participants}
        self._tracker = EnergyTracker()
        self._import_wh: dict[str, float] = dict.fromkeys(self._participant.values(), 0.0)
        self._export_wh: dict[str, float] = dict.fromkeys(self._participant.values(), 0.0)
        self._status: list[tuple[str, str]] = []
        self._base_profiles = {mid: m.physics.profile for mid, m in emulated.items()}

    @classmethod
    @contextlib.contextmanager
    def open(
        cls, config: ScenarioConfig, clock: SimClock, status: StatusSink
    ) -> Iterator[MeterFleet]:
        """Start the emulated meters, then one poller per meter; stop all on exit."""
        bench = config.bench
        used = {p.meter_id for p in config.participants}
        with contextlib.ExitStack() as stack:
            meters = [m for m in emulated_meters(bench) if m.name in used]
            ports = (
                resolve_ports(bench)
                if any(not m.emulated and m.meter_id in used for m in bench.meters)
                else {}
            )
            farm = MeterFarm(meters, baud=bench.baud, sim_clock=clock.now_s)
            stack.enter_context(farm)
            out: queue.Queue[Any] = queue.Queue()
            for meter_cfg in bench.meters:
                if meter_cfg.meter_id not in used:
                    continue
                url = (
                    farm.meters[meter_cfg.meter_id].port
                    if meter_cfg.emulated
                    else ports[meter_cfg.meter_id]
                )
                poller = MeterPoller(
                    url,
                    out,
                    interval_s=bench.interval_s,
                    key=meter_cfg.key,
                    reset_wait_s=0.0 if meter_cfg.emulated else bench.reset_wait_s,
                    backend=bench.backend,
                    expect_meter_id=meter_cfg.meter_id,
                    opener=_generic_opener(meter_cfg, url, bench.reset_wait_s),
                )
                stack.enter_context(poller)
                status(clock.now_s(), "info", f"meter {meter_cfg.meter_id} polled on {url}")
            yield cls(config, out, farm.meters)

    def participant_of(self, meter_id: str) -> str:
        """The participant a meter measures."""
        return self._participant.get(meter_id, meter_id)

    def drain(self) -> list[Reading]:
        """Readings that arrived since the last call; their energy is accumulated."""
        readings: list[Reading] = []
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return readings
            if isinstance(item, Reading):
                readings.append(item)
                delta = self._tracker.update(item)
                name = self._participant.get(item.meter_id)
                if delta is not None and name is not None:
                    self._import_wh[name] += delta.import_wh
                    self._export_wh[name] += delta.export_wh
            else:
                self._status.append(_describe(item))

    def wait_online(self, timeout_s: float) -> list[str]:
        """Wait until every meter has sent a reading; return the ids still silent."""
        deadline = time.monotonic() + timeout_s
        silent = set(self._participant)
        while silent and time.monotonic() < deadline:
            silent -= {r.meter_id for r in self.drain()}
            time.sleep(0.01)
        return sorted(silent)

    def drain_status(self) -> list[tuple[str, str]]:
        """Link events (online, outage, reconnect, reboot) as (level, message)."""
        out, self._status = self._status, []
        return out

    def interval_energy(self) -> dict[str, MeteredEnergy]:
        """Each participant's energy since the previous call; the accumulators restart."""
        self.drain()
        energy = {
            name: MeteredEnergy(name, self._import_wh[name], self._export_wh[name])
            for name in self._import_wh
        }
        for name in self._import_wh:
            self._import_wh[name] = 0.0
            self._export_wh[name] = 0.0
        return energy

    def load_scaler(self, meter_id: str) -> Callable[[float], None] | None:
        """A handle scaling an emulated meter's profile (demand response); None if real."""
        meter = self._emulated.get(meter_id)
        base = self._base_profiles.get(meter_id)
        if meter is None or base is None:
            return None

        def scale(factor: float) -> None:
            meter.set_profile(base.scaled(factor))

        return scale


def _generic_opener(
    meter: MeterConfig, url: str, reset_wait_s: float
) -> Callable[[], Meter] | None:
    """A StandardFirmata board needs its own driver; project meters use the default."""
    generic = meter.generic
    if meter.kind != "generic" or generic is None:
        return None
    return lambda: GenericFirmataMeter.open(url, meter.meter_id, generic, reset_wait_s=reset_wait_s)


def _describe(event: object) -> tuple[str, str]:
    if isinstance(event, MeterOutage):
        return "warning", f"meter {event.meter_id} outage: {event.reason}; reconnecting"
    if isinstance(event, MeterReconnected):
        return "info", f"meter {event.meter_id} back after {event.outage_s:.1f} s"
    if isinstance(event, MeterRebooted):
        return "warning", f"meter {event.meter_id} rebooted (boot {event.boot_count})"
    if isinstance(event, MeterOnline):
        return "info", f"meter {event.meter_id} online ({event.identity.firmware_name})"
    return "info", str(event)
