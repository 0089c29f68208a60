"""Boundary counters: every meter cut at the same instant, nothing lost or counted twice."""

from __future__ import annotations

import pytest

from bench.devices import Reading
from bench.scenario.counters import BoundaryCounters


def _reading(t_s: float, import_wh: float, export_wh: float = 0.0, boot: int = 1) -> Reading:
    return Reading("m", t_s, 230.0, 1.0, 230.0, 1.0, 50.0, import_wh, export_wh, True, 0, boot)


def test_cut_interpolates_between_the_readings_around_the_boundary() -> None:
    counters = BoundaryCounters()
    for t_s, wh in [(0.0, 100.0), (1.0, 110.0), (2.0, 130.0)]:
        counters.add(_reading(t_s, wh))
    assert counters.seen_after("m", 1.5) and not counters.seen_after("m", 2.5)
    assert counters.cut("m", 0.0) == (0.0, 0.0)
    assert counters.cut("m", 1.5) == pytest.approx((20.0, 0.0))  # 110 + half of 20, from 100
    assert counters.cut("m", 2.0) == pytest.approx((10.0, 0.0))
    assert counters.cut("m", 9.0) == (0.0, 0.0)  # held after the last reading


def test_cuts_add_up_to_the_counter_difference_across_a_reboot() -> None:
    counters = BoundaryCounters()
    readings = [(0.0, 5.0, 1.0, 1), (0.4, 6.0, 1.5, 1), (0.9, 6.5, 2.5, 2), (1.3, 9.0, 2.5, 2)]
    for t_s, imp, exp, boot in readings:
        counters.add(_reading(t_s, imp, exp, boot))
    cuts = [counters.cut("m", t) for t in (0.0, 0.25, 0.7, 1.1, 1.3)]
    assert sum(c[0] for c in cuts) == pytest.approx(9.0 - 5.0)
    assert sum(c[1] for c in cuts) == pytest.approx(2.5 - 1.0)
    assert all(c[0] >= 0 and c[1] >= 0 for c in cuts)


def test_unknown_meter_has_no_energy() -> None:
    assert BoundaryCounters().cut("nobody", 3.0) == (0.0, 0.0)


def test_readings_received_at_the_same_instant_keep_their_energy() -> None:
    counters = BoundaryCounters()
    for t_s, wh in [(0.0, 10.0), (1.0, 12.0), (1.0, 13.5), (2.0, 14.0)]:
        counters.add(_reading(t_s, wh))
    assert counters.cut("m", 1.0) == pytest.approx((3.5, 0.0))
    assert counters.cut("m", 2.0) == pytest.approx((0.5, 0.0))


def _readings(counters: BoundaryCounters, rows: list[tuple[float, float]]) -> None:
    for t_s, wh in rows:
        counters.add(_reading(t_s, wh))


def _power_reading_rows(t0: float, t1: float, step: float, w_per_s: float) -> list:
    n = round((t1 - t0) / step)
    return [(t0 + k * step, 100.0 + w_per_s * (t0 + k * step)) for k in range(n + 1)]


def test_a_cut_far_behind_the_newest_reading_still_interpolates() -> None:
    # 1000 readings arrive after the boundary before it is cut (the bench fell behind):
    # the oracle is the counter's straight line, 2 Wh/s, at the boundary
    counters = BoundaryCounters()
    _readings(counters, _power_reading_rows(0.0, 100.0, 0.1, 2.0))
    counters.cut("m", 0.0)
    assert counters.cut("m", 3.05) == pytest.approx((6.1, 0.0))
    assert counters.cut("m", 99.0) == pytest.approx((2 * (99.0 - 3.05), 0.0))


def test_a_late_meter_is_cut_on_schedule_and_caught_up_to_its_intervals() -> None:
    counters = BoundaryCounters(max_gap_s=1.0)
    _readings(counters, [(0.0, 0.0), (0.5, 5.0)])
    counters.cut("m", 0.0, None)
    assert counters.cut("m", 1.0, 1) == pytest.approx((5.0, 0.0))  # up to its last reading
    assert counters.pending() == {"m": (0.5, [1])}
    _readings(counters, [(1.2, 12.0)])  # readings cover the boundary: 10 Wh at t = 1.0
    (catch_up,) = counters.take_catch_ups()
    assert (catch_up.interval_id, catch_up.import_wh) == (1, pytest.approx(5.0))
    assert counters.pending() == {}
    assert counters.cut("m", 1.2, 2) == pytest.approx((2.0, 0.0))


def test_energy_across_a_long_outage_is_one_catch_up_and_nothing_is_lost() -> None:
    counters = BoundaryCounters(max_gap_s=1.0)
    _readings(counters, [(0.0, 0.0), (0.5, 5.0)])
    counters.cut("m", 0.0, None)
    cuts = [counters.cut("m", float(t), t) for t in (1, 2, 3)]  # out from 0.5 to 4.5
    _readings(counters, [(4.5, 50.0), (5.0, 55.0)])
    cuts.append(counters.cut("m", 5.0, 4))
    (gap,) = counters.take_catch_ups()
    # the outage's 45 Wh up to the last boundary cut (3) is the catch-up, pro rata; the
    # rest (3 to 4.5) is the next interval's
    assert gap.interval_id is None and (gap.from_t_s, gap.to_t_s) == (0.5, 3.0)
    assert gap.import_wh == pytest.approx(45.0 * 2.5 / 4)
    assert [c[0] for c in cuts] == pytest.approx([5.0, 0.0, 0.0, 55.0 - 5.0 - 45.0 * 2.5 / 4])
    assert sum(c[0] for c in cuts) + gap.import_wh == pytest.approx(55.0)


def test_a_meter_online_late_keeps_its_energy_when_its_counters_started_at_a_known_time() -> None:
    counters = BoundaryCounters()
    counters.counters_zero_at("m", -10.0)
    counters.counters_zero_at("other", -10.0)
    counters.add(Reading("other", 0.0, 230, 1, 230, 1, 50, 0.0, 0.0, True, 0, 1))
    counters.cut("other", 0.0)
    counters.cut("m", 0.0)
    # first reading at t = 10 with 40 Wh since t = -10: half of it after the run's start
    _readings(counters, [(10.0, 40.0), (11.0, 42.0)])
    (before,) = counters.take_catch_ups()
    assert before.interval_id is None and before.import_wh == pytest.approx(20.0)
    assert counters.cut("m", 11.0, 1) == pytest.approx((2.0, 0.0))


def test_a_meter_whose_counters_did_not_start_at_a_known_time_is_reported() -> None:
    counters = BoundaryCounters()
    counters.cut("m", 0.0)
    _readings(counters, [(10.0, 40.0)])
    assert counters.unknown_start == [("m", 10.0)] and counters.take_catch_ups() == []


def test_a_meter_that_never_reports_stays_pending() -> None:
    counters = BoundaryCounters()
    for k in range(3):
        assert counters.cut("m", float(k), k) == (0.0, 0.0)
    assert counters.pending() == {"m": (None, [0, 1, 2])}


def test_an_outage_over_the_run_start_brings_only_its_share_after_the_start() -> None:
    counters = BoundaryCounters(max_gap_s=1.0)
    _readings(counters, [(0.0, 0.0)])  # then out from 0 to 4; the run starts at 1
    counters.cut("m", 1.0)
    cuts = [counters.cut("m", float(t), t) for t in (2, 3)]
    _readings(counters, [(4.0, 40.0), (5.0, 50.0)])
    cuts.append(counters.cut("m", 5.0, 4))
    (gap,) = counters.take_catch_ups()
    # 10 Wh/s over the outage: after the start (1) and up to the last cut (3), pro rata
    assert (gap.from_t_s, gap.to_t_s, gap.import_wh) == (1.0, 3.0, pytest.approx(20.0))
    assert [c[0] for c in cuts] == pytest.approx([0.0, 0.0, 20.0])


def test_boundaries_cut_inside_an_outage_after_its_end_arrived_are_caught_up_not_lost() -> None:
    # out from 0.5 to 4.5 (10 Wh/s meanwhile, 45 Wh); the readings after the outage
    # arrive before the bench, fallen behind, cuts the boundaries at 2 and 3 inside it,
    # and 3 is the run's last: the oracle is the counter's straight line across the gap,
    # 5 + 45 × (3 − 0.5) / 4 Wh at t = 3, every Wh of it in a cut or a catch-up
    counters = BoundaryCounters(max_gap_s=1.0)
    _readings(counters, [(0.0, 0.0), (0.5, 5.0)])
    counters.cut("m", 0.0, None)
    cuts = [counters.cut("m", 1.0, 1)]  # late: pending
    _readings(counters, [(4.5, 50.0), (5.0, 55.0)])
    cuts += [counters.cut("m", float(t), t) for t in (2, 3)]
    gaps = counters.take_catch_ups()
    assert [c[0] for c in cuts] == pytest.approx([5.0, 0.0, 0.0])  # none traded as metered
    assert all(c.interval_id is None for c in gaps)  # the outage's: placed by the report
    assert [(c.from_t_s, c.to_t_s) for c in gaps] == [(0.5, 1.0), (1.0, 2.0), (2.0, 3.0)]
    assert [c.import_wh for c in gaps] == pytest.approx([45 * 0.5 / 4, 45 / 4, 45 / 4])
    total_wh = sum(c[0] for c in cuts) + sum(c.import_wh for c in gaps)
    assert total_wh == pytest.approx(5.0 + 45.0 * 2.5 / 4)
    assert counters.cut("m", 5.0, 4) == pytest.approx((55.0 - total_wh, 0.0))


def test_the_registers_at_the_last_cut_are_the_meter_s_own_between_its_readings() -> None:
    """A meter counting 1 Wh/s from 100 Wh on its registers: cut at t = 5 s, its
    registers there are 105 Wh, whatever it has reported since."""
    c = BoundaryCounters()
    assert c.registers_at_cut("m") is None
    c.add(_reading(0.0, 100.0, 7.0))
    c.add(_reading(10.0, 110.0, 7.0))
    c.cut("m", 5.0)
    assert c.registers_at_cut("m") == pytest.approx((105.0, 7.0))
    c.add(_reading(20.0, 120.0, 7.5))
    assert c.registers_at_cut("m") == pytest.approx((105.0, 7.0))
