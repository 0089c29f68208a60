"""The run-level CUSUM against Page's max-over-windows form, and its detection of a
100 W tap at demo settings under the cut-error model (simulated, no real time)."""

from __future__ import annotations

import random

import pytest

from bench.report.cusum import page_cusum

DEMO_TOLERANCE_WH = 110.0  # the demo's largest per-interval tolerance (2 Wh + 1.5 %)
THRESHOLD_WH = 2 * DEMO_TOLERANCE_WH
ALLOWANCE_WH = 7.0  # one whole Wh per meter, seven meters
TAP_WH = 100.0 * 900 / 3600  # 100 W over a 15-minute interval


def _oracle(u: list[float], k: float) -> list[float]:
    """g_n = max(0, max over m < n of S_n − S_m − (n − m)·k): Page's other formulation."""
    s = [0.0]
    for x in u:
        s.append(s[-1] + x - k)
    return [max(0.0, max(s[n] - s[m] for m in range(n))) for n in range(1, len(s))]


def test_recursion_matches_the_window_form() -> None:
    rng = random.Random(7)
    for _ in range(200):
        u = [rng.uniform(-80, 80) for _ in range(rng.randint(1, 30))]
        result = page_cusum(list(enumerate(u, 1)), [ALLOWANCE_WH] * len(u), 1e9)
        assert [s.statistic_wh for s in result.steps] == pytest.approx(_oracle(u, ALLOWANCE_WH))


def _run(rng: random.Random, tap_wh: float, intervals: int = 24) -> int | None:
    """Unexplained energy of one run: a boundary cut error up to half the tolerance at
    every boundary (it moves energy into the next interval) plus the tap."""
    cuts = [rng.uniform(-1, 1) * DEMO_TOLERANCE_WH / 2 for _ in range(intervals + 1)]
    u = [tap_wh + cuts[n + 1] - cuts[n] for n in range(intervals)]
    series = list(enumerate(u, 1))
    return page_cusum(series, [ALLOWANCE_WH] * intervals, THRESHOLD_WH).alarm_interval


def test_no_false_alarm_and_a_100_w_tap_found_within_the_run() -> None:
    rng = random.Random(12)
    assert [_run(rng, 0.0) for _ in range(2000)] == [None] * 2000
    alarms = [_run(rng, TAP_WH) for _ in range(2000)]
    assert None not in alarms  # found in every 24-interval run
    # the tap adds 25 − 7 = 18 Wh a step: over 220 Wh after 13 ± 6 intervals
    assert min(alarms) >= 7 and max(alarms) <= 19  # type: ignore[type-var]
