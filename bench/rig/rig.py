"""The rig: everything a bench config's meters need, started together, stopped together.

It starts each kind's meters once (the emulator farm only when a meter is emulated, a
simavr runner per ``simavr`` meter, the ports of real boards found), opens drivers by
kind, exposes each meter's capabilities and load control, and drives the emulated
feeder. It is the only runtime code that imports the emulator or the simavr runner.
"""

from __future__ import annotations

import contextlib
import queue
import time
from collections.abc import Callable, Iterable, Sequence
from functools import partial
from pathlib import Path
from typing import Any

from bench.config import BenchConfig, MeterConfig
from bench.devices.poller import MeterPoller
from bench.devices.protocol import Meter
from bench.errors import ConfigError
from bench.rig.feeder import FeederDriver
from bench.rig.kinds import Capability, MeterSite, SimTime, meter_kind, open_meter
from bench.rig.limits import GridLimits
from bench.rig.load import LimitedLoad, LoadControl
from bench.rig.meter_time import (
    BoundaryRegister,
    boundary_register,
    meter_clock,
    stream_period_s,
    with_meter_time,
)

_ZERO_START_KINDS = frozenset({"emulated", "simavr", "fake"})
"""Kinds the rig starts itself, their counters at 0 unless restored from memory."""


def _host_instant(host_s: float) -> float:
    """The inverse of the host's monotonic clock: the instant itself."""
    return host_s


class Rig:
    """The started meters of one bench config (a context manager)."""

    def __init__(
        self,
        bench: BenchConfig,
        meter_ids: Iterable[str] | None = None,
        *,
        sim_now_s: Callable[[], float] | None = None,
        speed: float = 1.0,
        real_time_of: Callable[[float], float] | None = None,
        memory_dir: Path | None = None,
    ) -> None:
        """The meters of ``bench`` (those in ``meter_ids``, else all) on the scenario's
        clock ``sim_now_s`` and its inverse ``real_time_of`` (given together; without
        them, on the host's monotonic clock); ``memory_dir``: see
        :attr:`SimTime.memory_dir`."""
        if (sim_now_s is None) != (real_time_of is None):
            raise TypeError("Rig takes sim_now_s and real_time_of together, or neither")
        wanted = None if meter_ids is None else set(meter_ids)
        self.bench = bench
        self.meters = {
            m.meter_id: m for m in bench.meters if wanted is None or m.meter_id in wanted
        }
        unknown = sorted((wanted or set()) - set(self.meters))
        if unknown:
            raise ConfigError(f"no [[meters]] entry for {unknown}; add them to the bench config")
        if sim_now_s is None or real_time_of is None:
            sim_now_s, real_time_of = time.monotonic, _host_instant
        self._time = SimTime(sim_now_s, real_time_of, speed, memory_dir)
        self._sites: dict[str, MeterSite] = {}
        self._stack = contextlib.ExitStack()

    def __enter__(self) -> Rig:
        by_kind: dict[str, list[MeterConfig]] = {}
        for m in self.meters.values():
            by_kind.setdefault(m.kind, []).append(m)
        try:
            for name, entries in by_kind.items():
                sites = meter_kind(name).start(self._stack, entries, self.bench, self._time)
                self._sites.update(sites)
        except BaseException:
            self._stack.close()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()
        self._sites.clear()

    def _site(self, meter_id: str) -> MeterSite:
        try:
            return self._sites[meter_id]
        except KeyError:
            raise ConfigError(
                f"meter {meter_id!r} is not started by this rig; known: "
                f"{', '.join(sorted(self._sites)) or 'none (enter the rig first)'}"
            ) from None

    def url(self, meter_id: str) -> str:
        """Where the meter answers (a port, a pty, ``fake://id``)."""
        return self._site(meter_id).url

    def kind(self, meter_id: str) -> str:
        """The meter's kind."""
        return self.meters[meter_id].kind

    def counts_from_zero(self, meter_id: str) -> bool:
        """True for a meter the rig started itself with its counters at 0 (emulated,
        simavr, fake), not from the memory it kept across a bench restart: it stops
        counting when the bench does, and starts again from 0."""
        kind = self.meters[meter_id].kind
        return kind in _ZERO_START_KINDS and not self._site(meter_id).restored

    def capabilities(self, meter_id: str) -> frozenset[Capability]:
        """What the meter can do."""
        meter = self.meters[meter_id]
        return meter_kind(meter.kind).capabilities_of(meter)

    def opener(self, meter_id: str) -> Callable[[], Meter]:
        """Connects a driver to the meter (again after each outage); an emulator of this
        process stamps its readings with its own time (:mod:`bench.rig.meter_time`)."""
        site = self._site(meter_id)
        return partial(_open_timed, self.meters[meter_id], self.bench, site)

    def meter_clock(self, meter_id: str) -> Callable[[float], float | None] | None:
        """Maps the meter's own clock (``Reading.meter_time_s``) to host monotonic seconds;
        None for a meter whose clock the bench cannot read (its readings carry none)."""
        return meter_clock(self._site(meter_id).url)

    def stream_period_s(self, meter_id: str) -> float | None:
        """Nominal host seconds between the meter's READING frames when their ``seq``
        counts a cadence of the meter's own clock (boards: :mod:`bench.rig.meter_time`);
        None for a meter placed otherwise."""
        return stream_period_s(self.meters[meter_id].kind, self.bench, self._time.speed)

    def boundary_register(self, meter_id: str) -> BoundaryRegister | None:
        """The meter's counters latched at the market's boundaries on its own clock (an
        emulator of this process); None for the others."""
        return boundary_register(self._site(meter_id).url)

    def load_control(self, meter_id: str) -> LoadControl | None:
        """The meter's load, when the bench drives it; None for a real load."""
        return self._site(meter_id).load

    def poller(self, meter_id: str, out: queue.Queue[Any]) -> MeterPoller:
        """A reader thread for the meter at the bench's reading interval (not started)."""
        return MeterPoller(
            self.opener(meter_id),
            out,
            url=self.url(meter_id),
            interval_s=self.bench.reading_interval_s,
            expect_meter_id=meter_id,
        )

    def drive_feeder(
        self,
        feeder_id: str,
        load_ids: Sequence[str],
        *,
        loss_fraction: float,
        unmetered_load_w: float,
    ) -> FeederDriver | None:
        """Make the feeder meter measure the microgrid's true flow, until the rig stops.

        A feeder with load control follows the other meters' loads (all of them must have
        load control, else the flow is unknown: ConfigError); a real feeder measures the
        real grid connection and needs nothing (None).
        """
        feeder = self.load_control(feeder_id)
        if feeder is None:
            return None
        loads = {meter_id: self.load_control(meter_id) for meter_id in load_ids}
        real = sorted(meter_id for meter_id, load in loads.items() if load is None)
        if real:
            raise ConfigError(
                f"the feeder meter {feeder_id} is {self.kind(feeder_id)}, so its flow is "
                f"computed from the other meters' loads, but {', '.join(real)} have no load "
                "control; make every participant's and supply point's meter emulated, "
                "simavr or fake, or use a real feeder meter"
            )
        driver = FeederDriver(
            feeder,
            [load for load in loads.values() if load is not None],
            loss_fraction=loss_fraction,
            unmetered_load_w=unmetered_load_w,
        )
        return self._stack.enter_context(driver)

    def limit_grid(
        self,
        load_ids: Sequence[str],
        curtailable: Sequence[str],
        sheddable: Sequence[str],
        *,
        export_limit_w: float,
        supply_cap_w: Callable[[float], float] | None,
        loss_fraction: float,
        unmetered_load_w: float,
        separate_areas: bool = False,
    ) -> GridLimits:
        """Make the PV meters among ``load_ids`` curtail at the feeder's export limit and
        the city's (``sheddable``) shed at the supply cap, the two areas apart with
        ``separate_areas`` (:mod:`bench.rig.limits`); every one of them
        must be emulated (else ConfigError: the bench cannot curtail a real inverter)."""
        loads = {meter_id: self.load_control(meter_id) for meter_id in load_ids}
        limited: dict[str, LimitedLoad] = {}
        for meter_id, load in loads.items():
            if isinstance(load, LimitedLoad):
                limited[meter_id] = load
        other = sorted(set(loads) - set(limited))
        if other:
            raise ConfigError(
                f"curtailment and shedding follow every meter's power, but {', '.join(other)} "
                f'are not emulated ({self.kind(other[0])}); make them kind = "emulated", or '
                "drop [[arrays]] and [grid] supply_cap_schedule"
            )
        limits = GridLimits(
            {m: load.unlimited_power_at for m, load in limited.items()},
            curtailable,
            sheddable,
            export_limit_w=export_limit_w,
            supply_cap_w=supply_cap_w,
            loss_fraction=loss_fraction,
            unmetered_load_w=unmetered_load_w,
            separate_areas=separate_areas,
        )
        for meter_id in sorted(limits.curtailable | limits.sheddable):
            limited[meter_id].limit(partial(limits.limited_w, meter_id))
        return limits


def _open_timed(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    return with_meter_time(open_meter(meter, bench, site), site.url)
