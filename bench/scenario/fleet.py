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
from concurrent.futures import Future
from typing import Any

from bench.config import BenchConfig, MeterConfig, ScenarioConfig
from bench.devices import (
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
from bench.errors import ConfigError
from bench.scenario.agents import MeteredEnergy
from bench.scenario.clock import SimClock
from bench.scenario.counters import BoundaryCounters
from bench.scenario.feeder import FeederDriver

StatusSink = Callable[[float, str, str], None]


class MeterFleet:
    """Every meter of a scenario, with per-participant energy since the last interval."""

    def __init__(
        self,
        config: ScenarioConfig,
        readings: queue.Queue[Any],
        emulated: dict[str, EmulatedMeter],
        pollers: dict[str, MeterPoller],
    ) -> None:
        self._queue = readings
        self._emulated = emulated
        self._participant = {p.meter_id: p.agent.participant for p in config.participants}
        # supply points are metered (for the energy balance) under their meter id
        self._participant.update({s.meter_id: s.meter_id for s in config.sessions})
        self.feeder_meter_id = config.feeder_meter
        self._counters = BoundaryCounters()
        self._latest: dict[str, Reading] = {}
        self._status: list[tuple[str, str]] = []
        self._pollers = pollers
        self._base_profiles = {mid: m.physics.profile for mid, m in emulated.items()}

    @classmethod
    @contextlib.contextmanager
    def open(
        cls, config: ScenarioConfig, clock: SimClock, status: StatusSink
    ) -> Iterator[MeterFleet]:
        """Start the emulated meters, then one poller per meter; stop all on exit."""
        bench = config.bench
        used = {p.meter_id for p in config.participants} | {s.meter_id for s in config.sessions}
        if config.feeder_meter:
            used.add(config.feeder_meter)
        unsupported = [m.meter_id for m in bench.meters if m.kind in ("simavr", "fake")]
        if unsupported:
            raise ConfigError(
                f"meters {unsupported}: simavr and fake meters are not run by the scenario "
                "yet; use kind = 'emulated' for them"
            )
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
            pollers: dict[str, MeterPoller] = {}
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
                    interval_s=bench.reading_interval_s,
                    key=meter_cfg.key,
                    baud=bench.baud,
                    reset_wait_s=0.0 if meter_cfg.emulated else bench.reset_wait_s,
                    backend=bench.backend,
                    expect_meter_id=meter_cfg.meter_id,
                    opener=_generic_opener(meter_cfg, url, bench),
                )
                pollers[meter_cfg.meter_id] = stack.enter_context(poller)
                status(clock.now_s(), "info", f"meter {meter_cfg.meter_id} polled on {url}")
            feeder = farm.meters.get(config.feeder_meter or "")
            if feeder is not None:
                load_ids = [p.meter_id for p in config.participants]
                load_ids += sorted({s.meter_id for s in config.sessions})
                loads = [farm.meters.get(meter_id) for meter_id in load_ids]
                if None in loads:
                    raise ConfigError(
                        f"the feeder meter {feeder.meter_id} is emulated, so it can only "
                        "follow emulated meters; make every participant's and supply "
                        "point's meter emulated, or use a real feeder meter"
                    )
                stack.enter_context(
                    FeederDriver(
                        feeder,
                        [m for m in loads if m is not None],
                        loss_fraction=config.market.loss_fraction,
                        unmetered_load_w=config.unmetered_load_w,
                    )
                )
            yield cls(config, out, farm.meters, pollers)

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
                self._counters.add(item)
                self._latest[item.meter_id] = item
            else:
                self._status.append(_describe(item))

    def wait_online(self, timeout_s: float) -> list[str]:
        """Wait until every meter has sent a reading; return the ids still silent."""
        deadline = time.monotonic() + timeout_s
        silent = set(self._participant) | (
            {self.feeder_meter_id} if self.feeder_meter_id else set()
        )
        while silent and time.monotonic() < deadline:
            silent -= {r.meter_id for r in self.drain()}
            time.sleep(0.01)
        return sorted(silent)

    def drain_status(self) -> list[tuple[str, str]]:
        """Link events (online, outage, reconnect, reboot) as (level, message)."""
        out, self._status = self._status, []
        return out

    def interval_energy(
        self, boundary_t_s: float | None = None, wait_s: float = 1.0
    ) -> tuple[dict[str, MeteredEnergy], float | None]:
        """Each participant's energy, and the feeder's net import, since the previous cut.

        Every meter is cut at the same instant ``boundary_t_s`` (host monotonic clock,
        default now): the bench waits up to ``wait_s`` for a reading after it and
        interpolates the counters there. A silent meter's energy stays counted for when
        it reports again.
        """
        boundary = time.monotonic() if boundary_t_s is None else boundary_t_s
        meters = [*self._participant, *([self.feeder_meter_id] if self.feeder_meter_id else [])]
        deadline = time.monotonic() + wait_s
        self.drain()
        while time.monotonic() < deadline and not all(
            self._counters.seen_after(m, boundary) for m in meters
        ):
            time.sleep(0.002)
            self.drain()
        energy: dict[str, MeteredEnergy] = {}
        for meter_id, name in self._participant.items():
            import_wh, export_wh = self._counters.cut(meter_id, boundary)
            energy[name] = MeteredEnergy(name, import_wh, export_wh)
        feeder_import_wh = None
        if self.feeder_meter_id:
            import_wh, export_wh = self._counters.cut(self.feeder_meter_id, boundary)
            feeder_import_wh = import_wh - export_wh
        return energy, feeder_import_wh

    @property
    def meter_ids(self) -> tuple[str, ...]:
        """Every meter of the run: participants', supply points' and the feeder's."""
        return tuple(self._pollers)

    def latest(self, meter_id: str) -> Reading | None:
        """The meter's most recent reading."""
        return self._latest.get(meter_id)

    def reading_after(self, meter_id: str, t_s: float, timeout_s: float = 2.0) -> Reading | None:
        """Wait for a reading of the meter received after ``t_s`` (monotonic); None if none."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.drain()
            reading = self._latest.get(meter_id)
            if reading is not None and reading.t_s > t_s:
                return reading
            if time.monotonic() >= deadline:
                return None
            time.sleep(0.005)

    def set_relay(self, meter_id: str, closed: bool) -> Future[None]:
        """Switch a meter's relay with the authenticated command, from any thread."""
        poller = self._pollers.get(meter_id)
        if poller is None:
            raise ConfigError(
                f"no meter {meter_id!r} in this run; known: {', '.join(sorted(self._pollers))}"
            )
        return poller.set_relay(closed)

    def load_scaler(self, meter_id: str) -> Callable[[float], None] | None:
        """A handle scaling an emulated meter's profile (demand response); None if real."""
        meter = self._emulated.get(meter_id)
        base = self._base_profiles.get(meter_id)
        if meter is None or base is None:
            return None

        def scale(factor: float) -> None:
            meter.set_profile(base.scaled(factor))

        return scale


def _generic_opener(meter: MeterConfig, url: str, bench: BenchConfig) -> Callable[[], Meter] | None:
    """A StandardFirmata board needs its own driver; project meters use the default."""
    generic = meter.generic
    if meter.kind != "generic" or generic is None:
        return None
    return lambda: GenericFirmataMeter.open(
        url,
        meter.meter_id,
        generic,
        baud=bench.baud,
        reset_wait_s=bench.reset_wait_s,
        backend=bench.backend,
    )


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
