"""Energy deltas from cumulative counters: wraps, reboots, regressions."""

from __future__ import annotations

import pytest

from bench.devices import EnergyTracker, Reading

WRAP_WH = float(1 << 32)


def reading(imp: float, exp: float = 0.0, boot: int = 1, t: float = 0.0) -> Reading:
    return Reading("m", t, 230.0, 0.0, 0.0, 0.0, 50.0, imp, exp, True, 0, boot)


def test_first_reading_is_the_baseline() -> None:
    tr = EnergyTracker()
    assert tr.update(reading(10.0)) is None
    d = tr.update(reading(12.5, 1.25, t=1.0))
    assert d is not None and (d.import_wh, d.export_wh, d.t1_s) == (2.5, 1.25, 1.0)


def test_counter_wrap_at_two_to_the_32_wh() -> None:
    tr = EnergyTracker()
    tr.update(reading(WRAP_WH - 0.5))
    d = tr.update(reading(0.75))
    assert d is not None and d.import_wh == pytest.approx(1.25)


def test_reboot_is_flagged_and_counted_once() -> None:
    tr = EnergyTracker()
    tr.update(reading(100.0, boot=3))
    d = tr.update(reading(101.0, boot=4))
    assert d is not None and d.across_reboot and d.import_wh == pytest.approx(1.0)


def test_a_counter_going_back_counts_nothing_twice() -> None:
    tr = EnergyTracker()
    tr.update(reading(100.0))
    d = tr.update(reading(99.5))
    assert d is not None and d.import_wh == 0 and tr.regressions == 1
    d = tr.update(reading(100.25))
    assert d is not None and d.import_wh == pytest.approx(0.25)  # from the old baseline
