"""Meters cut at the boundary where their own registers latched, whatever the host's lag.

An emulated meter latches its counters at every market boundary on its own (simulated)
clock. The oracles: the closed-form integral of a known power curve at the boundary's
instant (physics), and a fleet fed readings with gaps far longer than the counters'
``max_gap_s`` around each boundary (a starved emulator): cut at the latched registers,
each interval is the true energy between the boundaries; without the latch (the
mutation, :func:`_cut_run` with ``latch=False``) the gaps make the energy an outage's
catch-up, none of it in the interval.
"""

from __future__ import annotations

import math
import queue
import tomllib
from typing import Any, cast

import pytest

from bench.config import Faults, parse_scenario
from bench.devices import MeterPoller, Reading
from bench.emulator.device import Eeprom
from bench.emulator.physics import MeterPhysics
from bench.emulator.profile import Profile
from bench.events import EnergyCatchUp
from bench.rig import Rig
from bench.scenario.clock import SimClock
from bench.scenario.fleet import MeterFleet

SPEED = 2000.0
INTERVAL_S = 900.0


class _Clock:
    def __init__(self) -> None:
        self.t_s = 0.0

    def __call__(self) -> float:
        return self.t_s


def _ramp_wh(t_s: float) -> float:
    """∫0..t of the profile below (1 kW rising 1 W per s, over the first 3 h), in Wh."""
    return (1000.0 * t_s + t_s**2 / 2) / 3600.0


def test_the_registers_latch_the_true_counters_at_each_boundary_however_late_asked() -> None:
    clock = _Clock()
    profile = Profile("ramp", (0.0, 10_800.0), (1000.0, 11_800.0))
    physics = MeterPhysics(Eeprom("m"), Faults(), clock, profile=profile)
    physics.latch_boundaries(0.0, INTERVAL_S)
    # the host integrates at odd instants, once 4 boundaries late in one step
    for t_s in (333.0, 901.7, 1000.0, 4700.5, 5000.0):
        clock.t_s = t_s
        physics.advance()
    for k in range(1, 6):
        latched = physics.latched_mwh(k)
        assert latched is not None
        assert latched[0] == pytest.approx(_ramp_wh(k * INTERVAL_S) * 1000, abs=1.0)
    assert physics.latched_mwh(6) is None  # its clock is not there yet


class _Register:
    """An emulated meter's latched registers: the oracle's counters at each boundary."""

    def __init__(self, energy_wh: Any) -> None:
        self.energy_wh = energy_wh
        self.origin_s = math.nan

    def latch_boundaries(self, origin_s: float, period_s: float) -> None:
        self.origin_s, self.period_s = origin_s, period_s

    def latched_wh(self, k: int) -> tuple[float, float]:
        return round(self.energy_wh(self.origin_s + k * self.period_s), 3), 0.0


class _Rig:
    def __init__(self, clock: SimClock, register: _Register | None) -> None:
        self._clock, self._register = clock, register

    def meter_clock(self, meter_id: str) -> Any:
        return self._clock.real_time_of

    def boundary_register(self, meter_id: str) -> _Register | None:
        return self._register

    def stream_period_s(self, meter_id: str) -> None:
        return None  # on its own clock: no stream fit

    def kind(self, meter_id: str) -> str:
        return "emulated"


def _energy_wh(t_s: float) -> float:
    """A 3 kW load with a 5 kW step at 1,350 s: ∫ in Wh (the oracle)."""
    return (3000.0 * t_s + 5000.0 * max(0.0, t_s - 1350.0)) / 3600.0


def _reading(seq: int, meter_s: float, arrival_s: float) -> Reading:
    e = round(_energy_wh(meter_s), 3)
    return Reading(
        "m", arrival_s, 230.0, 0.0, 0.0, 1.0, 50.0, e, 0.0, True, seq, 1, meter_time_s=meter_s
    )


def _cut_run(*, latch: bool) -> tuple[list[float], list[EnergyCatchUp]]:
    text = '[[meters]]\nid = "m"\n[[participants]]\nname = "p"\nmeter = "m"\n'
    config = parse_scenario(tomllib.loads(text))
    clock = SimClock(speed=SPEED)
    register = _Register(_energy_wh) if latch else None
    q: queue.Queue[Any] = queue.Queue()
    pollers = cast(dict[str, MeterPoller], {"m": None})
    fleet = MeterFleet(config, q, cast(Rig, _Rig(clock, register)), pollers, clock)
    fleet.latch_boundaries(0.0, INTERVAL_S)
    # readings 200 simulated s apart, but none for 2,600 s (1.3 s of real time, over
    # the counters' 1 s max_gap_s) around the boundaries at 900 s and 1,800 s
    times = [t for t in range(0, 4000, 200) if not 400 < t < 3000]
    stamped = [_reading(seq, float(t), clock.real_time_of(t)) for seq, t in enumerate(times)]
    for r in stamped[:2]:
        q.put(r)
    fleet.interval_energy(clock.real_time_of(0.0), wait_s=0.0)
    for r in stamped[2:]:  # the starved emulator's readings all arrive late
        q.put(r)
    out = []
    for n in (1, 2, 3):
        energy, _ = fleet.interval_energy(
            clock.real_time_of(n * INTERVAL_S), wait_s=0.0, interval_id=n
        )
        out.append(energy["p"].import_wh)
    catch_ups = [e for e in fleet.energy_events() if isinstance(e, EnergyCatchUp)]
    return out, catch_ups


def test_a_gap_in_the_readings_skews_nothing_across_a_latched_boundary() -> None:
    cut, catch_ups = _cut_run(latch=True)
    for n, wh in enumerate(cut, start=1):
        want = _energy_wh(n * INTERVAL_S) - _energy_wh((n - 1) * INTERVAL_S)
        assert wh == pytest.approx(want, abs=0.002)
    assert catch_ups == []


def test_without_the_latch_the_gap_is_an_outage_none_of_it_in_its_intervals() -> None:
    cut, catch_ups = _cut_run(latch=False)
    assert cut[0] < 0.5 * 750.0  # interval 1 should hold 750 Wh
    assert sum(c.import_wh for c in catch_ups) > 1000.0


def test_the_cut_still_waits_for_a_reading_past_the_boundary_of_a_latching_meter() -> None:
    """The latch makes the energy exact, but each interval's coverage (the readings the
    journal counts per meter) needs the readings taken before the boundary in before the
    interval is recorded: the fleet waits for one past it, as for any meter (pinning
    first, the mutation, cut at once and left them to the next interval: ``no_reading``
    findings in a loaded week); the readings it took to cut are handed on by the next
    :meth:`MeterFleet.drain` (they were dropped: never journaled, never counted)."""
    import threading

    text = '[[meters]]\nid = "m"\n[[participants]]\nname = "p"\nmeter = "m"\n'
    config = parse_scenario(tomllib.loads(text))
    clock = SimClock(speed=SPEED)
    q: queue.Queue[Any] = queue.Queue()
    pollers = cast(dict[str, MeterPoller], {"m": None})
    rig = _Rig(clock, _Register(_energy_wh))
    fleet = MeterFleet(config, q, cast(Rig, rig), pollers, clock)
    fleet.latch_boundaries(0.0, INTERVAL_S)
    q.put(_reading(0, 0.0, clock.real_time_of(0.0)))
    fleet.interval_energy(clock.real_time_of(0.0), wait_s=0.0)
    late = _reading(1, 1000.0, clock.real_time_of(1000.0))
    timer = threading.Timer(0.3, q.put, [late])
    timer.start()
    energy, _ = fleet.interval_energy(clock.real_time_of(INTERVAL_S), wait_s=5.0, interval_id=1)
    timer.join()
    latest = fleet.latest("m")
    assert latest is not None and latest.seq == 1  # drained before the cut
    # and handed on with the others (the worker journals them in this interval)
    assert [r.seq for r in fleet.drain()] == [0, 1]
    assert energy["p"].import_wh == pytest.approx(_energy_wh(INTERVAL_S), abs=0.002)
