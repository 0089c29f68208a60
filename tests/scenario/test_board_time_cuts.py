"""Boards cut at boundaries on their own clock: seq × stream period, fitted to arrivals.

A synthetic board streams READING frames on its own crystal (±500 ppm off the nominal
period), its counters the closed-form integral of a known power curve at the instant
each frame is sent. A host reader that wakes every 0–300 ms (2 % of the time 0.5–2 s
late: a burst) receives them; 10 % of the frames are lost, the board reboots once (seq
from 0, a new boot count, its cadence restarted) and is unplugged for 25 s (its frames
lost meanwhile, its cadence restarted by the host's STREAM when it is back); the cuts
are also checked for a board whose cadence is steadily 1/0.55 of the nominal period. The
oracle is the curve's integral between the boundaries' instants.

The bound is derived in two steps. (1) :class:`StreamClock` places every frame within
``PLACE_S`` of the instant it was sent, checked against the true send instants: the
offset is the least delay among the frames of the last 10 s (at least 64; in these
streams up to 17 ms over a whole 4 s) plus the rate's error over that span (500 ppm ×
10 s = 5 ms before the rate is fitted), so 25 ms; ``START_S`` = 100 ms for the first 5 s
of a cadence, placed from the least delayed of the few frames seen so far. (2) A cut
interpolates between the two placed readings that straddle the boundary, so a
placement error δ moves P(B)·δ·speed of energy across it, plus the interpolation's own
error h²/8·max|dP/dt| for readings h simulated seconds apart. Cutting by arrival
instead (the mutation) moves P × the arrival delay (up to 2 s) and fails by hundreds
of Wh.
"""

from __future__ import annotations

import math
import queue
import random
import time
import tomllib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, cast

import pytest

from bench.config import parse_scenario
from bench.devices import MeterPoller, MeterReconnected, Reading, StreamClock
from bench.events import EnergyCatchUp
from bench.rig import Rig
from bench.scenario.fleet import MeterFleet

SPEED = 3600.0
INTERVAL_S = 3600.0  # one real second
PERIOD_S = 0.05  # nominal stream period, real seconds (180 simulated)
MEAN_W, SWING_W, CURVE_S = 3000.0, 2500.0, 4 * 3600.0
H0 = 1000.0  # host instant the curve starts at
COUNTERS_AT_H0_WH = 50_000.0  # the board streams from 2 s before: counters stay > 0
INTERVALS = 100
PLACE_S = 0.025
START_S = 0.100
START_WINDOW_S = 5.0
REBOOT_AT_S, OUTAGE_AT_S, OUTAGE_S = 12.3, 30.6, 25.0


def _energy_wh(host_s: float) -> float:
    """∫ P dt over simulated time from H0 to ``host_s``: the oracle, in closed form."""
    t = (host_s - H0) * SPEED
    w = 2 * math.pi / CURVE_S
    return (MEAN_W * t + SWING_W * (1 - math.cos(w * t)) / w) / 3600.0


MAX_W = MEAN_W + SWING_W
MAX_DPDT = SWING_W * 2 * math.pi / CURVE_S  # W per simulated second


@dataclass(frozen=True)
class Frame:
    sent_s: float
    reading: Reading | MeterReconnected
    segment_start_s: float  # when the cadence this frame is on began


def _stream(seed: int, drift_ppm: float) -> list[Frame]:
    """The board's frames in arrival order (``Reading.t_s`` is the arrival)."""
    rng = random.Random(seed)
    rate_s = PERIOD_S * (1 + drift_ppm * 1e-6)
    sends: list[tuple[float, int, int, float]] = []
    t, seq, boot, start = H0 - 2.0, 0, 1, H0 - 2.0
    end = H0 + INTERVALS + 3.0
    rebooted = restreamed = False
    while t < end:
        t += rate_s
        if not rebooted and t >= H0 + REBOOT_AT_S:
            rebooted, boot, seq = True, boot + 1, 0
            t += 0.7  # the boot, then STREAM again
            start = t
        if OUTAGE_AT_S <= t - H0 < OUTAGE_AT_S + OUTAGE_S:
            seq += 1  # unplugged: the frames are lost
            continue
        if not restreamed and t - H0 >= OUTAGE_AT_S + OUTAGE_S:
            restreamed = True
            t += rng.uniform(0, rate_s)  # the host's STREAM restarts the cadence
            start = t
            sends.append((t, -1, boot, start))  # the poller reports the meter back
        if rng.random() < 0.1:
            seq += 1  # a dropped frame
            continue
        sends.append((t, seq % (1 << 28), boot, start))
        seq += 1
    frames, wake, i = [], H0 - 2.0, 0
    while i < len(sends):
        wake += rng.uniform(0, 0.3) if rng.random() > 0.02 else rng.uniform(0.5, 2.0)
        while i < len(sends) and sends[i][0] <= wake:
            sent, s, b, start = sends[i]
            i += 1
            if s < 0:
                frames.append(Frame(sent, MeterReconnected("pty", "b", wake, OUTAGE_S, 3), start))
                continue
            e = round(COUNTERS_AT_H0_WH + _energy_wh(sent), 3)  # the counters are whole mWh
            r = Reading("b", wake, 230.0, 0.0, 0.0, 1.0, 50.0, e, 0.0, True, s, b)
            frames.append(Frame(sent, r, start))
    return frames


PACES = [(1, 500.0), (2, -500.0), (3, 120.0)]  # a crystal's drift


def _placed(clock: StreamClock, frames: list[Frame]) -> list[tuple[Reading, float]]:
    """Each reading of ``frames`` with the instant ``clock`` placed it at (the stream
    restarted at each reconnection)."""
    placed: list[tuple[Reading, float]] = []
    for f in frames:
        if isinstance(f.reading, Reading):
            placed += clock.add(f.reading)
        else:
            placed += clock.flush()
            clock.restart()
    return placed + clock.flush()


@pytest.mark.parametrize(("seed", "drift_ppm"), PACES)
def test_the_stream_clock_places_each_frame_at_the_instant_it_was_sent(
    seed: int, drift_ppm: float
) -> None:
    frames = _stream(seed, drift_ppm)
    readings = [f for f in frames if isinstance(f.reading, Reading)]
    sent = {(f.reading.boot_count, f.reading.seq, f.reading.t_s): f for f in readings}
    clock = StreamClock(PERIOD_S)
    placed = _placed(clock, frames)
    assert len(placed) == len(readings)
    for r, t_s in placed:
        f = sent[(r.boot_count, r.seq, r.t_s)]
        assert abs(t_s - f.sent_s) <= _place_bound_s(f), (f, t_s - f.sent_s)
    assert clock.rate_s == pytest.approx(PERIOD_S * (1 + drift_ppm * 1e-6), rel=1e-4)


def test_a_board_far_off_its_nominal_period_is_placed_on_its_own_cadence() -> None:
    """Frames 1/0.55 of the nominal period apart on the host's clock (a cadence the
    board keeps, not the one asked: a gateway's own interval, a STREAM value the firmware
    raises). The fit follows it (the nominal period, 45 % off, is dropped within the
    first 2 s of frames), and once a cadence has run 10 s every frame is placed within
    ``PLACE_S``."""
    pace = 0.55
    frames = _stream(4, (1 / pace - 1) * 1e6)
    readings = [f for f in frames if isinstance(f.reading, Reading)]
    sent = {(f.reading.boot_count, f.reading.seq, f.reading.t_s): f for f in readings}
    clock = StreamClock(PERIOD_S)
    placed = _placed(clock, frames)
    assert len(placed) == len(readings)
    assert clock.rate_s == pytest.approx(PERIOD_S / pace, rel=1e-3)
    for r, t_s in placed:
        f = sent[(r.boot_count, r.seq, r.t_s)]
        if f.sent_s - f.segment_start_s >= 10.0:
            assert abs(t_s - f.sent_s) <= PLACE_S, (f, t_s - f.sent_s)


class _Board:
    """The rig's side the fleet reads here: a board placed by its stream."""

    def __init__(self, period_s: float | None) -> None:
        self._period_s = period_s

    def meter_clock(self, meter_id: str) -> Callable[[float], float | None] | None:
        return None

    def stream_period_s(self, meter_id: str) -> float | None:
        return self._period_s

    def boundary_register(self, meter_id: str) -> None:
        return None  # a board latches nothing the bench can read

    def kind(self, meter_id: str) -> str:
        return "firmata"


def _fleet(readings: queue.Queue[Any], period_s: float | None) -> MeterFleet:
    text = '[[meters]]\nid = "b"\nkind = "firmata"\nport = "/dev/null"\n'
    text += '[[participants]]\nname = "p"\nmeter = "b"\n'
    config = parse_scenario(tomllib.loads(text))
    pollers = cast(dict[str, MeterPoller], {"b": None})
    return MeterFleet(config, readings, cast(Rig, _Board(period_s)), pollers)


def _cuts(frames: list[Frame], period_s: float | None) -> dict[int, float]:
    """Each interval's cut Wh plus the catch-ups attributed to it (None: an outage's)."""
    q: queue.Queue[Any] = queue.Queue()
    fleet = _fleet(q, period_s)
    out: dict[int, float] = {}
    pos = 0
    for n in range(INTERVALS + 1):
        boundary = H0 + n * INTERVAL_S / SPEED
        # what has arrived when the fleet cuts (it waits up to 1 s for a reading past it)
        while pos < len(frames) and frames[pos].reading.t_s <= boundary + 1.0:
            q.put(frames[pos].reading)
            pos += 1
        energy, _ = fleet.interval_energy(boundary, wait_s=0.0, interval_id=n or None)
        if n:
            out[n] = out.get(n, 0.0) + energy["p"].import_wh
        _add_catch_ups(out, fleet.energy_events())
    while pos < len(frames):
        q.put(frames[pos].reading)
        pos += 1
    _add_catch_ups(out, fleet.finish())
    return out


def _add_catch_ups(out: dict[int, float], events: list[object]) -> None:
    for e in events:
        if isinstance(e, EnergyCatchUp):
            key = e.interval_id if e.interval_id is not None else -1
            out[key] = out.get(key, 0.0) + e.import_wh


def _place_bound_s(f: Frame) -> float:
    return START_S if f.sent_s - f.segment_start_s < START_WINDOW_S else PLACE_S


def _bound_wh(frames: list[Frame], boundary_s: float) -> float:
    """What a cut at host instant ``boundary_s`` may miss (module docstring)."""
    readings = [f for f in frames if isinstance(f.reading, Reading)]
    before = max((f for f in readings if f.sent_s <= boundary_s), key=lambda f: f.sent_s)
    after = min((f for f in readings if f.sent_s > boundary_s), key=lambda f: f.sent_s)
    place = max(_place_bound_s(before), _place_bound_s(after))
    h_s = (after.sent_s - before.sent_s) * SPEED
    return MAX_W * place * SPEED / 3600 + h_s**2 / 8 * MAX_DPDT / 3600 + 0.002


def _outage_intervals() -> range:
    first = math.floor(OUTAGE_AT_S * SPEED / INTERVAL_S)
    return range(first, math.ceil((OUTAGE_AT_S + OUTAGE_S + 1.0) * SPEED / INTERVAL_S) + 1)


@pytest.mark.parametrize(("seed", "drift_ppm"), [*PACES, (4, (1 / 0.55 - 1) * 1e6)])
def test_each_board_interval_equals_the_true_energy_between_its_boundaries(
    seed: int, drift_ppm: float
) -> None:
    frames = _stream(seed, drift_ppm)
    cuts = _cuts(frames, PERIOD_S)
    outage = _outage_intervals()
    for n in range(1, INTERVALS + 1):
        if n in outage:
            continue
        b0, b1 = H0 + (n - 1) * INTERVAL_S / SPEED, H0 + n * INTERVAL_S / SPEED
        true_wh = _energy_wh(b1) - _energy_wh(b0)
        bound = _bound_wh(frames, b0) + _bound_wh(frames, b1)
        assert cuts[n] == pytest.approx(true_wh, abs=bound), n
    # across the outage the counters say only how much, not when: the span's total
    b0 = H0 + (outage[0] - 1) * INTERVAL_S / SPEED
    b1 = H0 + outage[-1] * INTERVAL_S / SPEED
    span_wh = sum(cuts.get(n, 0.0) for n in outage) + cuts.get(-1, 0.0)
    bound = _bound_wh(frames, b0) + _bound_wh(frames, b1)
    assert span_wh == pytest.approx(_energy_wh(b1) - _energy_wh(b0), abs=bound)
    # and the run's total: every Wh between its first and last boundary, once (seed 1's
    # reader stalls 1.6 s across the first boundary: the energy before it is not the run's)
    end = H0 + INTERVALS * INTERVAL_S / SPEED
    bound = _bound_wh(frames, H0) + _bound_wh(frames, end)
    assert sum(cuts.values()) == pytest.approx(_energy_wh(end) - _energy_wh(H0), abs=bound)


def test_cutting_boards_by_arrival_moves_energy_across_boundaries() -> None:
    """The mutation: the same stream cut at its arrivals (no stream clock) misses by
    far more than the bound."""
    frames = _stream(1, 500.0)
    cuts = _cuts(frames, None)
    outage = _outage_intervals()
    worst = 0.0
    for n in range(1, INTERVALS + 1):
        if n in outage:
            continue
        b0, b1 = H0 + (n - 1) * INTERVAL_S / SPEED, H0 + n * INTERVAL_S / SPEED
        excess = abs(cuts[n] - (_energy_wh(b1) - _energy_wh(b0)))
        excess -= _bound_wh(frames, b0) + _bound_wh(frames, b1)
        worst = max(worst, excess)
    assert worst > 100.0


E2E_PLACE_S = 0.005


def test_a_board_on_a_pty_is_placed_where_it_read_its_counters() -> None:
    """The real driver and poller read an emulated board on a pty (frames garbled, lost
    and cut short at 10 %, a reboot, a 3 s stall) for 10 s; the stream clock places
    each reading against the emulator's own record of when it read the counters (its
    simulated instant, mapped to the host's clock). The emulator's cadence is its loop's,
    not a crystal's: a frame its loop sent late is placed on the cadence, so the bound
    is that lateness (from the emulator's records alone: how far each frame's instant
    lies above the cadence's lower envelope) plus ``E2E_PLACE_S``."""
    from functools import partial

    from bench.config import Faults
    from bench.devices import FirmataMeter
    from bench.emulator import EmulatedMeter, MeterFarm

    faults = Faults(garbage_rate=0.1, drop_rate=0.1, truncate_rate=0.1)
    rows: list[tuple[tuple[int, int], int, float, float]] = []  # cadence, seq, true, placed
    with MeterFarm(speed=SPEED) as farm:
        board = farm.add(EmulatedMeter("b", power_w=3000.0, faults=faults, seed=3))
        q: queue.Queue[Any] = queue.Queue()
        opener = partial(FirmataMeter.open, board.port, timeout_s=1.0)
        clock = StreamClock(PERIOD_S)
        truth: dict[tuple[int, int], tuple[tuple[int, int], float]] = {}
        restarts = 0
        poller = MeterPoller(opener, q, url=board.port, interval_s=PERIOD_S, expect_meter_id="b")

        def place(items: list[tuple[Reading, float]]) -> None:
            for r, t_s in items:
                cadence, true_s = truth[(r.boot_count, r.seq)]
                rows.append((cadence, r.seq, true_s, t_s))

        with poller:
            began = time.monotonic()
            acts = {3.0: board.reboot, 6.0: lambda: board.stall(3.0)}
            while time.monotonic() - began < 10.0:
                for at in [a for a in acts if time.monotonic() - began >= a]:
                    acts.pop(at)()
                try:
                    item = q.get(timeout=0.05)
                except queue.Empty:
                    continue
                if isinstance(item, Reading):
                    sim_s = board.reading_time_s(item.boot_count, item.seq)
                    real_s = None if sim_s is None else board.real_time_of(sim_s)
                    assert real_s is not None
                    truth[(item.boot_count, item.seq)] = ((item.boot_count, restarts), real_s)
                    place(clock.add(item))
                elif isinstance(item, MeterReconnected):
                    place(clock.flush())
                    clock.restart()
                    restarts += 1
            place(clock.flush())
    assert len(rows) == len(truth) > 100
    envelope: dict[tuple[int, int], float] = {}
    for cadence, seq, true_s, _ in rows:
        envelope[cadence] = min(envelope.get(cadence, math.inf), true_s - PERIOD_S * seq)
    for cadence, seq, true_s, placed_s in rows:
        late_s = true_s - PERIOD_S * seq - envelope[cadence]
        assert -late_s - E2E_PLACE_S <= placed_s - true_s <= E2E_PLACE_S, (seq, late_s)
