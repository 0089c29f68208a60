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
