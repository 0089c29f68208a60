"""The scenario's meters: started by the rig, every one read by a poller.

Every kind of meter is driven by the same code: a :class:`MeterPoller` per meter (one
reader thread each, opened by the rig for the meter's kind) puts readings and link
events on one queue. The fleet turns
the readings' cumulative counters into per-participant energy with
:class:`EnergyTracker`, so an outage or a reboot loses nothing. Each reading is placed
at the host instant the meter read its counters (:mod:`bench.rig.meter_time`): an
emulator's own clock, or for a board its frames' seq on a :class:`StreamClock`.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from pathlib import Path
from types import MappingProxyType
from typing import Any, TypeVar

from bench.config import ScenarioConfig
from bench.devices import (
    MeterOnline,
    MeterOutage,
    MeterPoller,
    MeterRebooted,
    MeterReconnected,
    Reading,
    StreamClock,
)
from bench.devices.protocol import Meter
from bench.errors import ConfigError
from bench.events import (
    EnergyCatchUp,
    EnergyUnaccounted,
    LinkState,
    MeteredEnergy,
    MeterLate,
    MeterLink,
)
from bench.rig import Capability, GridLimits, LoadControl, Rig, schedule_w
from bench.scenario.clock import SimClock
from bench.scenario.counters import BoundaryCounters, CatchUp

_SCENARIO_CLOCK_KINDS = frozenset({"emulated", "fake"})
"""Kinds whose energy integrates on the scenario's clock: a pause holds their counters."""

StatusSink = Callable[[float, str, str], None]
T = TypeVar("T")


class MeterFleet:
    """Every meter of a scenario, with per-participant energy since the last interval."""

    def __init__(
        self,
        config: ScenarioConfig,
        readings: queue.Queue[Any],
        rig: Rig,
        pollers: dict[str, MeterPoller],
        clock: SimClock | None = None,
        started_t_s: float | None = None,
    ) -> None:
        self._queue = readings
        self._rig = rig
        self._owner = config.meter_owners
        self.feeder_meter_id = config.feeder_meter
        # every meter but the feeder is metered under its owner; the feeder's cut is the
        # grid's flow (supply points under their meter id, for the energy balance)
        self._participant = {m: o for m, o in self._owner.items() if m != self.feeder_meter_id}
        reading_s = config.bench.reading_interval_s
        self._counters = BoundaryCounters(max_gap_s=max(0.5, 10 * reading_s))
        # a meter whose link is up reports within a reading period; one that hangs is
        # declared out by its poller after 1 s, so the wait never grows past that
        self._wait_s = 1.0
        self._latest: dict[str, Reading] = {}
        self._links: list[object] = []
        self._pollers = pollers
        self._clock = clock
        self._down: set[str] = set(self._metered_ids())  # no reading yet, or link out
        self._energy_events: list[MeterLate | EnergyCatchUp | EnergyUnaccounted] = []
        self._interval_id: int | None = None
        self._clipping: set[str] = set()  # meters whose last reading said "clipped"
        # meters whose own clock the bench can read: their readings are placed at the
        # instant the meter read its counters, not at their arrival
        self._meter_clock = {meter_id: rig.meter_clock(meter_id) for meter_id in pollers}
        # boards: placed from their frames' seq on a clock fitted to their arrivals
        self._stream_clocks: dict[str, StreamClock] = {}
        for meter_id in pollers:
            period_s = rig.stream_period_s(meter_id)
            if self._meter_clock[meter_id] is None and period_s is not None:
                self._stream_clocks[meter_id] = StreamClock(period_s)
        # meters that latch their counters at each boundary on their own clock
        self._registers = {
            meter_id: register
            for meter_id in pollers
            if (register := rig.boundary_register(meter_id)) is not None
        }
        self._latching = False
        self._drained: list[Reading] = []  # taken from the queue, not yet drained
        if started_t_s is not None:
            for meter_id in pollers:
                if self.counts_from_zero(meter_id):
                    self._counters.counters_zero_at(meter_id, started_t_s)
        self.last_feeder_wh: tuple[float, float] | None = None
        """The feeder's (import, export) Wh in the last :meth:`interval_energy` cut."""
        self.limits: GridLimits | None = None
        """The grid's limits the emulated meters follow (curtailment, shedding), if any."""

    @classmethod
    @contextlib.contextmanager
    def open(
        cls,
        config: ScenarioConfig,
        clock: SimClock,
        status: StatusSink,
        memory_dir: Path | None = None,
    ) -> Iterator[MeterFleet]:
        """Start the rig's meters (those it runs itself keeping their EEPROM in
        ``memory_dir``), then one poller per meter; stop all on exit."""
        used = {p.meter_id for p in config.participants} | {s.meter_id for s in config.sessions}
        if config.feeder_meter:
            used.add(config.feeder_meter)
        with (
            Rig(
                config.bench,
                used,
                sim_now_s=clock.now_s,
                speed=clock.speed,
                real_time_of=clock.real_time_of,
                memory_dir=memory_dir,
            ) as rig,
            contextlib.ExitStack() as stack,
        ):
            started_t_s = time.monotonic()
            out: queue.Queue[Any] = queue.Queue()
            pollers: dict[str, MeterPoller] = {}
            supply_points = {s.meter_id for s in config.sessions}
            for meter_id in rig.meters:
                poller = rig.poller(meter_id, out)
                if meter_id in supply_points:
                    # fail closed: the first command on the link locks the supply point
                    poller.set_relay(False)
                pollers[meter_id] = stack.enter_context(poller)
                status(clock.now_s(), "info", f"meter {meter_id} polled on {rig.url(meter_id)}")
            limits = _grid_limits(config, rig)
            if config.feeder_meter:
                load_ids = [p.meter_id for p in config.participants]
                load_ids += sorted({s.meter_id for s in config.sessions})
                rig.drive_feeder(
                    config.feeder_meter,
                    load_ids,
                    loss_fraction=config.market.loss_fraction,
                    unmetered_load_w=config.unmetered_load_w,
                )
            fleet = cls(config, out, rig, pollers, clock, started_t_s)
            fleet.limits = limits
            yield fleet

    def participant_of(self, meter_id: str) -> str:
        """The participant a meter measures (:attr:`ScenarioConfig.meter_owners`)."""
        return self._owner.get(meter_id, meter_id)

    def drain(self) -> list[Reading]:
        """Readings that arrived since the last call (those collected meanwhile, to cut
        a boundary or confirm a relay, included); their energy is accumulated."""
        self.collect()
        readings, self._drained = self._drained, []
        return readings

    def collect(self) -> Mapping[str, Reading]:
        """Account every reading and link event that arrived, keeping the readings for
        the next :meth:`drain` (which journals them); the latest reading of each meter."""
        readings = self._drained
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return MappingProxyType(self._latest)
            if isinstance(item, Reading):
                readings.append(item)
                self._note_clipping(item)
                for reading, t_s in self._placed(item):
                    self._counters.add(reading, t_s)
                self._latest[item.meter_id] = item
                self._down.discard(item.meter_id)
            else:
                if isinstance(item, MeterOutage):
                    self._down.add(item.meter_id)
                    self._flush_held(item.meter_id)
                if isinstance(item, MeterReconnected | MeterOnline):
                    self._restream(item.meter_id)
                self._links.append(item)

    def _placed(self, reading: Reading) -> list[tuple[Reading, float]]:
        """The reading (and any held before it) with the host instant it was read at."""
        stream = self._stream_clocks.get(reading.meter_id)
        if stream is None:
            return [(reading, self.taken_at_s(reading))]
        return stream.add(reading)

    def _restream(self, meter_id: str) -> None:
        """The poller asked the meter to stream again: a new cadence."""
        stream = self._stream_clocks.get(meter_id)
        if stream is not None:
            self._flush_held(meter_id)
            stream.restart()

    def _flush_held(self, meter_id: str) -> None:
        stream = self._stream_clocks.get(meter_id)
        if stream is not None:
            for reading, t_s in stream.flush():
                self._counters.add(reading, t_s)

    def _note_clipping(self, reading: Reading) -> None:
        """A finding at the first clipped reading of each episode: energy the meter
        counted while its input clipped reads low, so it is billed only with a finding."""
        if not reading.clipped:
            self._clipping.discard(reading.meter_id)
            return
        if reading.meter_id in self._clipping:
            return
        self._clipping.add(reading.meter_id)
        self._energy_events.append(
            EnergyUnaccounted(
                self._sim_s(reading.t_s),
                reading.meter_id,
                f"clipped at its ADC's rail (reading {reading.seq}: "
                f"{reading.current_a:.2f} A, {reading.voltage_v:.1f} V): the energy it "
                "counts while clipped reads low; keep the current inside the meter's "
                "range (firmware/PROTOCOL.md §5.2) or fit a larger current sensor and "
                "recalibrate (gridbench meter calibrate)",
            )
        )

    def taken_at_s(self, reading: Reading) -> float:
        """The host monotonic instant the meter read the reading's counters: from the
        meter's own clock when it tells it, else the reading's arrival time."""
        to_host = self._meter_clock.get(reading.meter_id)
        if to_host is not None and reading.meter_time_s is not None:
            t_s = to_host(reading.meter_time_s)
            if t_s is not None:
                return t_s
        return reading.t_s

    def sim_time_of(self, reading: Reading) -> float:
        """The simulated instant the meter read the reading's counters: its own clock
        when it tells it, else its arrival on the scenario's clock."""
        if reading.meter_time_s is not None and self._meter_clock.get(reading.meter_id):
            return reading.meter_time_s
        return self._sim_s(reading.t_s)

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

    def drain_links(self, sim_time_s: float) -> list[MeterLink]:
        """Link events (online, outage, back, reboot) since the last call, stamped now."""
        events, self._links = self._links, []
        links = [_link(event, sim_time_s) for event in events]
        return [link for link in links if link is not None]

    def _metered_ids(self) -> list[str]:
        return [*self._participant, *([self.feeder_meter_id] if self.feeder_meter_id else [])]

    def latch_boundaries(self, origin_s: float, interval_s: float) -> None:
        """The meters that can latch their counters on their own clock do so at every
        simulated ``origin_s + k * interval_s``: boundary ``k`` of :meth:`interval_energy`
        is cut there exactly (interval ``k`` ends there), not interpolated between
        readings, so a host fallen behind (readings late, or far apart on the meter's
        clock) skews no energy across it."""
        for register in self._registers.values():
            register.latch_boundaries(origin_s, interval_s)
        self._latching = bool(self._registers)

    def _pin_latched(self, boundary_t_s: float, interval_id: int) -> None:
        """Each latching meter whose link is up: its counters at the boundary."""
        for meter_id, register in self._registers.items():
            if meter_id in self._down:
                continue
            latched = register.latched_wh(interval_id)
            if latched is not None:
                self._counters.pin(meter_id, boundary_t_s, *latched)

    def interval_energy(
        self,
        boundary_t_s: float | None = None,
        wait_s: float | None = None,
        interval_id: int | None = None,
    ) -> tuple[dict[str, MeteredEnergy], float | None]:
        """Each participant's energy, and the feeder's net import, since the previous cut.

        Every meter is cut at the same instant ``boundary_t_s`` (host monotonic clock,
        default now) from its own counters, interpolated there between the readings it
        took before and after it (on its own clock when it tells it), or where it latched
        them (:meth:`latch_boundaries`, boundary ``interval_id``). The bench waits (at most
        ``wait_s``, default a few reading periods) only for meters whose link is up; a
        meter that is out or late is cut at its last reading and reported
        (:class:`MeterLate`); its energy before the boundary comes as a catch-up when it
        reports again (:meth:`energy_events`).
        """
        boundary = time.monotonic() if boundary_t_s is None else boundary_t_s
        wait_s = self._wait_s if wait_s is None else wait_s
        deadline = time.monotonic() + wait_s
        self.collect()
        # the readings taken up to the boundary are in before it is cut (each interval's
        # coverage); a latching meter is then cut at its latched counters, late or not
        while time.monotonic() < deadline and not all(
            self._counters.seen_after(m, boundary)
            for m in self._metered_ids()
            if m not in self._down
        ):
            time.sleep(0.002)
            self.collect()
        if self._latching and interval_id is not None:
            self._pin_latched(boundary, interval_id)
        if interval_id is not None:
            for meter_id in self._metered_ids():
                if not self._counters.seen_after(meter_id, boundary):
                    latest = self._latest.get(meter_id)
                    last = None if latest is None else self._sim_s(latest.t_s)
                    self._energy_events.append(
                        MeterLate(self._sim_s(boundary), meter_id, interval_id, last)
                    )
        energy: dict[str, MeteredEnergy] = {}
        for meter_id, name in self._participant.items():
            import_wh, export_wh = self._counters.cut(meter_id, boundary, interval_id)
            energy[name] = MeteredEnergy(name, import_wh, export_wh)
        feeder_import_wh = None
        if self.feeder_meter_id:
            import_wh, export_wh = self._counters.cut(self.feeder_meter_id, boundary, interval_id)
            feeder_import_wh = import_wh - export_wh
            self.last_feeder_wh = (import_wh, export_wh)
        self._interval_id = interval_id
        return energy, feeder_import_wh

    def limited_wh(self, start_s: float, end_s: float) -> tuple[dict[str, float], dict[str, float]]:
        """(Wh curtailed, Wh shed) per participant from simulated ``start_s`` to ``end_s``
        (empty without limits). Call it before the interval's commands change a power."""
        if self.limits is None:
            return {}, {}
        curtailed, shed = self.limits.energy_wh(start_s, end_s)
        return (
            {self.participant_of(m): wh for m, wh in sorted(curtailed.items())},
            {self.participant_of(m): wh for m, wh in sorted(shed.items())},
        )

    def energy_events(self) -> list[MeterLate | EnergyCatchUp | EnergyUnaccounted]:
        """Late meters and catch-ups since the last call (drain first)."""
        self._energy_events.extend(self._catch_up(c) for c in self._counters.take_catch_ups())
        for meter_id, first_t_s in self._counters.unknown_start:
            self._energy_events.append(
                EnergyUnaccounted(
                    self._sim_s(first_t_s),
                    meter_id,
                    "came online after the run started and its counters did not start at a "
                    "known instant: its energy before its first reading is not known",
                )
            )
        self._counters.unknown_start.clear()
        out, self._energy_events = self._energy_events, []
        return out

    def finish(self, wait_s: float = 0.0) -> list[MeterLate | EnergyCatchUp | EnergyUnaccounted]:
        """At the end of the run: wait up to ``wait_s`` for meters with pending energy
        whose link is up (a starved host delivers their readings late; a meter that is out
        or never reported holds nothing up), then report what is still not attributed
        (and meters that never reported)."""
        deadline = time.monotonic() + wait_s
        self.collect()
        while time.monotonic() < deadline and any(
            m not in self._down for m in self._counters.pending()
        ):
            time.sleep(0.01)
            self.collect()
        for meter_id in self._stream_clocks:
            self._flush_held(meter_id)
        events = self.energy_events()
        now_s = self._sim_s(time.monotonic())
        for meter_id, (last_t_s, intervals) in sorted(self._counters.pending().items()):
            named = [i for i in intervals if i is not None]
            span = f"intervals {named[0]}–{named[-1]}" if named else "the run's start"
            if last_t_s is None:
                reason = f"never reported: its energy over {span} is not known"
            else:
                reason = (
                    f"out since {self._sim_s(last_t_s):.0f} s (last reading) through {span}: "
                    "its energy since then is still in its counters, not attributed to any "
                    "interval; read it when the meter is back"
                )
            events.append(EnergyUnaccounted(now_s, meter_id, reason))
        return events

    def _catch_up(self, c: CatchUp) -> EnergyCatchUp:
        return EnergyCatchUp(
            self._sim_s(time.monotonic()),
            c.meter_id,
            self.participant_of(c.meter_id),
            c.interval_id,
            self._interval_id,
            self._sim_s(c.from_t_s),
            self._sim_s(c.to_t_s),
            c.import_wh,
            c.export_wh,
        )

    def _sim_s(self, t_s: float) -> float:
        """A host monotonic instant on the scenario's clock (approximately, across pauses)."""
        clock = self._clock
        if clock is None:
            return t_s
        return clock.now_s() - clock.speed * (time.monotonic() - t_s)

    @property
    def meter_ids(self) -> tuple[str, ...]:
        """Every meter of the run: participants', supply points' and the feeder's."""
        return tuple(self._pollers)

    def counters_at_cut(self, meter_id: str) -> tuple[float, float] | None:
        """The meter's (import, export) counters at the last boundary cut, as it reports
        them (None before a reading of it was accounted)."""
        return self._counters.registers_at_cut(meter_id)

    def latest(self, meter_id: str) -> Reading | None:
        """The meter's most recent reading."""
        return self._latest.get(meter_id)

    def reading_after(self, meter_id: str, t_s: float, timeout_s: float = 2.0) -> Reading | None:
        """Wait for a reading of the meter received after ``t_s`` (monotonic); None if none."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.collect()
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

    def submit(self, meter_id: str, fn: Callable[[Meter], T]) -> Future[T]:
        """Run ``fn(driver)`` on the meter's poller thread between reads, from any thread."""
        poller = self._pollers.get(meter_id)
        if poller is None:
            raise ConfigError(
                f"no meter {meter_id!r} in this run; known: {', '.join(sorted(self._pollers))}"
            )
        return poller.submit(fn)

    def capabilities(self, meter_id: str) -> frozenset[Capability]:
        """What the meter's kind can do (``signing``: it signs its own counters)."""
        return self._rig.capabilities(meter_id)

    def load_control(self, meter_id: str) -> LoadControl | None:
        """The meter's load when the bench drives it (demand response); None if real."""
        return self._rig.load_control(meter_id)

    def kind(self, meter_id: str) -> str:
        """The meter's kind (firmata, generic, emulated, simavr, fake)."""
        return self._rig.kind(meter_id)

    def clock_held_until(self, t_s: float) -> None:
        """The scenario clock was held up to host instant ``t_s`` (commissioning, a pause):
        the meters that integrate on it held their counters until then. Without that
        point a cut just after the resume would spread the energy taken between the
        resume and the next reading back over the hold (a fake's or an emulator's readings
        taken in the hold are placed at the host instant they were read).

        ``t_s`` is ``SimClock.real_time_of`` of the held instant, which maps it to the
        resume: that mapping also places the run's first boundary (the held instant) at
        the resume and is what makes this point fall there; each one alone leaves an
        interval after a hold short (tests/scenario/test_meter_time_cuts.py)."""
        for meter_id in self._metered_ids():
            if self.kind(meter_id) in _SCENARIO_CLOCK_KINDS:
                self._counters.held_until(meter_id, t_s)

    def counts_from_zero(self, meter_id: str) -> bool:
        """See :meth:`Rig.counts_from_zero`."""
        return self._rig.counts_from_zero(meter_id)


def _link(event: object, sim_time_s: float) -> MeterLink | None:
    """A poller's link event as typed state for the listeners."""
    if isinstance(event, MeterOnline):
        return MeterLink(sim_time_s, event.meter_id, LinkState.ONLINE, event.identity.firmware_name)
    if isinstance(event, MeterOutage):
        return MeterLink(sim_time_s, event.meter_id, LinkState.OUTAGE, event.reason)
    if isinstance(event, MeterReconnected):
        return MeterLink(sim_time_s, event.meter_id, LinkState.BACK, f"{event.outage_s:.1f} s")
    if isinstance(event, MeterRebooted):
        return MeterLink(sim_time_s, event.meter_id, LinkState.REBOOTED, f"boot {event.boot_count}")
    return None


def _grid_limits(config: ScenarioConfig, rig: Rig) -> GridLimits | None:
    """With a ``[grid]``: the PV meters (``[[arrays]]``) curtail at the feeder's export
    limit, the city's meters shed at ``supply_cap_schedule``, the campus and the city as
    two connections with no local market (``utility``); None when neither applies."""
    grid = config.grid
    if grid is None:
        return None
    arrays = {a.meter_id for a in config.bench.arrays}
    curtailable = sorted({p.meter_id for p in config.participants} & arrays)
    sheddable = sorted(p.meter_id for p in config.participants if p.area == "city")
    cap = grid.supply_cap_schedule
    if not curtailable and not cap:
        return None
    load_ids = [p.meter_id for p in config.participants]
    load_ids += sorted({s.meter_id for s in config.sessions})
    return rig.limit_grid(
        load_ids,
        curtailable,
        sheddable,
        export_limit_w=grid.export_limit_w,
        supply_cap_w=schedule_w(cap) if cap else None,
        loss_fraction=config.market.loss_fraction,
        unmetered_load_w=config.unmetered_load_w,
        separate_areas=config.market.mechanism == "utility",
    )
