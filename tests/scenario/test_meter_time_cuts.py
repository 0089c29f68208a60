"""Meters cut at boundaries on their own clock: arrival jitter moves no energy.

The fleet is fed readings whose counters follow a known power curve, stamped with the
meter's own time, and delivered late by a random host delay (up to the 50 ms a busy
machine adds, 180 simulated seconds at 3600x). The oracle is the curve's closed-form
integral between the boundaries' simulated instants. Cutting by arrival time instead
(the mutation) moves P × Δdelay across each boundary and fails.
"""

from __future__ import annotations

import itertools
import math
import queue
import random
import threading
import time
import tomllib
from collections.abc import Callable
from typing import Any, cast

import numpy as np
import pytest

from bench.config import parse_scenario
from bench.devices import MeterOutage, MeterPoller, Reading
from bench.events import EnergyCatchUp, EnergyUnaccounted
from bench.rig import Rig
from bench.scenario.clock import SimClock
from bench.scenario.fleet import MeterFleet

SPEED = 3600.0
INTERVAL_S = 3600.0
READING_SIM_S = 180.0  # a reading every 50 ms of real time
MEAN_W, SWING_W, PERIOD_S = 3000.0, 2500.0, 5400.0


# linear interpolation of the counters between readings h apart misses at most
# h²/8·max|dP/dt| at each of the interval's two boundaries; the counters are whole mWh
INTERPOLATION_WH = 2 * READING_SIM_S**2 / 8 * SWING_W * 2 * math.pi / PERIOD_S / 3600 + 0.002


def _energy_wh(t_s: float) -> float:
    """∫0..t (MEAN + SWING·sin(2πt/PERIOD)) dt, in Wh: the oracle, in closed form."""
    w = 2 * math.pi / PERIOD_S
    return (MEAN_W * t_s + SWING_W * (1 - math.cos(w * t_s)) / w) / 3600.0


class _MeterClocks:
    """The rig's side the fleet reads here: each meter's clock, the scenario's."""

    def __init__(self, clock: SimClock) -> None:
        self._clock = clock

    def meter_clock(self, meter_id: str) -> Callable[[float], float | None]:
        return self._clock.real_time_of

    def boundary_register(self, meter_id: str) -> None:
        return None

    def kind(self, meter_id: str) -> str:
        return "fake"  # integrates on the scenario clock

    def stream_period_s(self, meter_id: str) -> None:
        return None


def _fleet(clock: SimClock, readings: queue.Queue[Any]) -> MeterFleet:
    text = '[[meters]]\nid = "m"\n[[participants]]\nname = "p"\nmeter = "m"\n'
    config = parse_scenario(tomllib.loads(text))
    pollers = cast(dict[str, MeterPoller], {"m": None})
    return MeterFleet(config, readings, cast(Rig, _MeterClocks(clock)), pollers, clock)


def _reading(seq: int, meter_s: float, arrival_s: float) -> Reading:
    e = _energy_wh(meter_s)
    return Reading(
        "m", arrival_s, 230.0, 0.0, 0.0, 1.0, 50.0, round(e, 3), 0.0, True, seq, 1,
        meter_time_s=meter_s,
    )  # fmt: skip


def _cut_run(seed: int, intervals: int = 12) -> list[tuple[float, float]]:
    """(cut Wh, true Wh) per interval, the readings late by a random host delay."""
    clock = SimClock(speed=SPEED)
    rng = random.Random(seed)
    q: queue.Queue[Any] = queue.Queue()
    fleet = _fleet(clock, q)
    n_readings = int((intervals + 2) * INTERVAL_S / READING_SIM_S)
    stream, arrival = [], 0.0
    for k in range(n_readings):
        meter_s = k * READING_SIM_S + rng.uniform(0, 20)
        delay_s = rng.choice([0.001, 0.004, rng.uniform(0, 0.05)])
        # a serial link keeps the frames' order
        arrival = max(arrival, clock.real_time_of(meter_s) + delay_s)
        stream.append((arrival, k, meter_s))
    out, pos = [], 0
    for n in range(0, intervals + 1):
        boundary_s = INTERVAL_S * (n + 0.5)
        boundary_host = clock.real_time_of(boundary_s)
        # what has arrived by the time the fleet cuts (it waits for a reading past it)
        while pos < len(stream) and stream[pos][0] <= boundary_host + 0.06:
            arrival, k, meter_s = stream[pos]
            q.put(_reading(k, meter_s, arrival))
            pos += 1
        energy, _ = fleet.interval_energy(boundary_host, wait_s=0.0, interval_id=n or None)
        if n:
            true_wh = _energy_wh(boundary_s) - _energy_wh(boundary_s - INTERVAL_S)
            out.append((energy["p"].import_wh, true_wh))
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_each_interval_equals_the_true_energy_between_the_boundaries(seed: int) -> None:
    for cut_wh, true_wh in _cut_run(seed):
        assert cut_wh == pytest.approx(true_wh, abs=INTERPOLATION_WH)


def test_meter_time_drops_out_host_jitter_that_arrival_time_would_not() -> None:
    """The same stream cut by arrival time: the error the meter's time removes is real
    (this is the mutation the test above catches)."""
    clock = SimClock(speed=SPEED)
    fleet = _fleet(clock, queue.Queue())
    late = _reading(0, 100.0, clock.real_time_of(100.0) + 0.05)
    assert fleet.taken_at_s(late) == pytest.approx(clock.real_time_of(100.0))
    unknown = Reading("m", 5.0, 230.0, 0.0, 0.0, 1.0, 50.0, 0.0, 0.0, True, 0, 1)
    assert fleet.taken_at_s(unknown) == 5.0  # no meter time: its arrival


EMULATED = """
[bench]
reading_interval_s = 0.05

[scenario]
market_interval_s = 3600
speed = 3600
start_hour = 9.0

[[meters]]
id = "load"
kind = "emulated"
power_w = 3000.0

[[meters]]
id = "roof"
kind = "emulated"
profile = "pv*3"

[[participants]]
name = "load"
meter = "load"

[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"
"""


def _profile_wh(spec: str, t0_s: float, t1_s: float) -> float:
    """Export of a profile between two instants: a 1 s trapezoid sum (the oracle)."""
    from bench.emulator import Profile

    profile = Profile.parse(spec)
    n = int(t1_s - t0_s)
    ts = [t0_s + (t1_s - t0_s) * k / n for k in range(n + 1)]
    ps = [-profile.power_at(t) for t in ts]
    return sum((a + b) / 2 for a, b in itertools.pairwise(ps)) * (t1_s - t0_s) / n / 3600


def test_emulated_meters_are_cut_at_their_true_counters_at_the_boundary() -> None:
    """Real emulated meters on ptys at 3600x: each interval's energy equals the energy
    the emulator integrated between the boundaries' simulated instants."""
    import threading

    config = parse_scenario(tomllib.loads(EMULATED))
    clock = SimClock(speed=SPEED, start_s=config.start_s)
    stop = threading.Event()
    with MeterFleet.open(config, clock, lambda *_: None) as fleet:
        assert fleet.wait_online(15.0) == []
        t0_s = math.ceil(clock.now_s() / 60) * 60 + 60
        assert clock.sleep_until(t0_s, stop)
        fleet.interval_energy(clock.real_time_of(t0_s))
        for n in range(1, 4):
            end_s = t0_s + n * INTERVAL_S
            assert clock.sleep_until(end_s, stop)
            energy, _ = fleet.interval_energy(clock.real_time_of(end_s), interval_id=n)
            assert fleet.energy_events() == []  # nobody late: every cut is on schedule
            # the counters are whole mWh; interpolation 180 s between readings of a
            # piecewise-linear profile
            assert energy["load"].import_wh == pytest.approx(3000.0, abs=0.5)
            want = _profile_wh("pv*3", end_s - INTERVAL_S, end_s)
            assert energy["roof"].export_wh == pytest.approx(want, rel=1e-3, abs=1.0)


def test_a_pause_before_the_first_boundary_is_no_gap_in_the_meters_readings() -> None:
    """The clock is held while the meters are commissioned (longer than the counters'
    1 s ``max_gap_s``): readings drained during the hold carry the held time. The first
    reading after the resume comes up to a reading period late (148 simulated s here);
    interval 1 still holds all 900 s of a constant 3 kW. Placing the held readings at
    the pause's start (the old mapping) made the hold a gap and the energy before the
    late reading an outage's: interval 1 came out 123 Wh short, as in a loaded CI run."""
    # the reading period (0.1 s by default) sets max_gap_s = 1 s: the hold is 1.2 s
    power_w, interval_s = 3000.0, 900.0
    clock = SimClock(speed=SPEED)
    q: queue.Queue[Any] = queue.Queue()
    fleet = _fleet(clock, q)
    clock.pause()
    held_s = clock.now_s()
    base_wh = 10.0

    def reading(seq: int, meter_s: float) -> Reading:
        e = base_wh + power_w * max(0.0, meter_s - held_s) / 3600
        return Reading(
            "m", time.monotonic(), 230.0, 0.0, 0.0, 1.0, 50.0, round(e, 3), 0.0, True, seq, 1,
            meter_time_s=meter_s,
        )  # fmt: skip

    for seq in range(3):  # the meter reports while held; the fleet drains it (wait_online)
        q.put(reading(seq, held_s))
        assert fleet.wait_online(1.0) == []
        time.sleep(0.4)
    q.put(reading(3, held_s))  # reported during the chain's commissioning, drained later
    clock.resume()
    t0_s = clock.now_s()
    fleet.interval_energy(clock.real_time_of(t0_s), wait_s=0.0)  # before any new reading
    for k, meter_s in enumerate(np.arange(t0_s + 148.0, t0_s + interval_s + 200.0, 180.0)):
        q.put(reading(4 + k, float(meter_s)))
    energy, _ = fleet.interval_energy(
        clock.real_time_of(t0_s + interval_s), wait_s=0.0, interval_id=1
    )
    assert energy["p"].import_wh == pytest.approx(power_w * interval_s / 3600, abs=0.5)


def test_the_run_waits_at_its_end_for_a_late_meter_whose_link_is_up_not_for_one_out() -> None:
    # the last boundary is cut with the meter's readings behind it (a starved host); they
    # arrive 3 s later: its energy up to the boundary is caught up, not unaccounted
    clock = SimClock(speed=SPEED)
    q: queue.Queue[Any] = queue.Queue()
    fleet = _fleet(clock, q)
    start = clock.real_time_of(0.0)
    for k in range(10):
        q.put(_reading(k, k * READING_SIM_S, start + k * 0.05))
    fleet.interval_energy(start, wait_s=0.0)
    boundary_s = 10 * READING_SIM_S
    fleet.interval_energy(clock.real_time_of(boundary_s), wait_s=0.0, interval_id=1)
    after = _reading(10, boundary_s + READING_SIM_S, time.monotonic() + 3.0)
    late = threading.Timer(3.0, q.put, [after])
    late.start()
    events = fleet.finish(wait_s=30.0)
    late.join()
    (catch_up,) = [e for e in events if isinstance(e, EnergyCatchUp)]
    assert catch_up.interval_id == 1 and not any(isinstance(e, EnergyUnaccounted) for e in events)
    true_wh = _energy_wh(boundary_s) - _energy_wh(9 * READING_SIM_S)
    assert catch_up.import_wh == pytest.approx(true_wh, abs=INTERPOLATION_WH)
    # a meter that is out holds nothing up: reported unaccounted at once
    fleet.interval_energy(clock.real_time_of(3 * boundary_s), wait_s=0.0, interval_id=2)
    q.put(MeterOutage("pty", "m", time.monotonic(), "unplugged"))
    began = time.monotonic()
    events = fleet.finish(wait_s=30.0)
    assert time.monotonic() - began < 15.0
    assert [e.meter_id for e in events if isinstance(e, EnergyUnaccounted)] == ["m"]


def test_a_meter_on_the_scenario_clock_held_its_counters_until_the_resume() -> None:
    """A fake meter's readings taken in a hold are stamped when they were read (the last
    one 40 ms before the resume here); its first reading after the resume is 148
    simulated s late. The fleet is told the clock was held until the resume, so interval
    1 holds all 900 s of 3 kW: without that point the cut spread the energy taken after
    the resume back over the 40 ms before it (61 Wh short, the report tests' interval-1
    imbalance under a CPU hog)."""
    power_w, interval_s = 3000.0, 900.0
    clock = SimClock(speed=SPEED)
    q: queue.Queue[Any] = queue.Queue()
    fleet = _fleet(clock, q)
    clock.pause()
    held_s = clock.now_s()

    def reading(seq: int, meter_s: float, stamp_s: float) -> Reading:
        e = 10.0 + power_w * max(0.0, meter_s - held_s) / 3600
        return Reading("m", stamp_s, 230.0, 0.0, 0.0, 1.0, 50.0, round(e, 3), 0.0, True, seq, 1)

    for seq in range(3):
        q.put(reading(seq, held_s, time.monotonic()))
        assert fleet.wait_online(1.0) == []
        time.sleep(0.04)
    clock.resume()
    fleet.clock_held_until(clock.real_time_of(held_s))
    t0_s = clock.now_s()
    fleet.interval_energy(clock.real_time_of(t0_s), wait_s=0.0)
    for k, meter_s in enumerate(np.arange(t0_s + 148.0, t0_s + interval_s + 200.0, 180.0)):
        q.put(reading(3 + k, float(meter_s), clock.real_time_of(float(meter_s))))
    energy, _ = fleet.interval_energy(
        clock.real_time_of(t0_s + interval_s), wait_s=0.0, interval_id=1
    )
    assert energy["p"].import_wh == pytest.approx(power_w * interval_s / 3600, abs=0.5)
