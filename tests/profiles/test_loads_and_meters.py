"""Calendar-aware loads, the [[calendar]] table, and emulated meters following the profiles."""

from __future__ import annotations

import datetime as dt
from typing import Any

import numpy as np
import pytest

from bench.config import parse_bench_config
from bench.emulator import emulated_meters
from bench.errors import ConfigError
from bench.profiles.loads import load_power_w

DAY_S = 86_400.0
TERM_MONDAY = dt.date(2026, 4, 6)


def doc(**extra: Any) -> dict[str, Any]:
    return {
        "site": {"start_date": "2026-05-11", "cloud_cover": 0.0},
        "meters": [{"id": "roof", "kind": "emulated"}, {"id": "hall", "kind": "emulated"}],
        **extra,
    }


def test_a_dorm_empties_in_the_vacation_by_the_hand_formula() -> None:
    hours = np.array([20.0, 14.0])
    term = load_power_w("dorm", hours, TERM_MONDAY, "term", units=200)
    vacation = load_power_w("dorm", hours, TERM_MONDAY, "vacation", units=200)
    # P = units · 300 W · (0.1 + 0.9 · occupancy · shape); shape(20 h) = 0.9,
    # shape(14 h) = 0.25 + (0.3 − 0.25) · 4/7 between the 10 h and 17 h points
    shape14 = 0.25 + 0.05 * 4 / 7
    assert term == pytest.approx([200 * 300 * (0.1 + 0.9 * 0.9), 200 * 300 * (0.1 + 0.9 * shape14)])
    assert vacation == pytest.approx(
        [200 * 300 * (0.1 + 0.9 * 0.12 * 0.9), 200 * 300 * (0.1 + 0.9 * 0.12 * shape14)]
    )


def test_shops_close_on_sunday_and_labs_slow_at_the_weekend() -> None:
    noon = np.array([14.0])
    sunday = TERM_MONDAY + dt.timedelta(days=6)
    assert load_power_w("shop", noon, sunday, "term")[0] == pytest.approx(2500 * (0.1 + 0.9 * 0.2))
    assert load_power_w("shop", noon, TERM_MONDAY, "vacation")[0] == pytest.approx(2500.0)
    saturday = TERM_MONDAY + dt.timedelta(days=5)
    assert load_power_w("lab", noon, saturday, "term")[0] == pytest.approx(
        6000 * (0.3 + 0.7 * 0.3 * 0.8)
    )


def test_the_calendar_marks_vacation_and_term_days() -> None:
    bench = parse_bench_config(
        doc(calendar=[{"first": "2026-05-01", "last": "2026-07-15", "kind": "vacation"}])
    )
    assert bench.day_kind(dt.date(2026, 5, 1)) == "vacation"
    assert bench.day_kind(dt.date(2026, 7, 15)) == "vacation"
    assert bench.day_kind(dt.date(2026, 7, 16)) == "term"
    assert bench.site.date_of(3) == dt.date(2026, 5, 14)


@pytest.mark.parametrize(
    ("extra", "needle"),
    [
        ({"calendar": [{"first": "2026-05-01", "last": "2026-04-01"}]}, "comes before"),
        (
            {
                "calendar": [
                    {"first": "2026-05-01", "last": "2026-05-10"},
                    {"first": "2026-05-10", "last": "2026-05-12", "kind": "holiday"},
                ]
            },
            "overlap",
        ),
        ({"calendar": [{"first": "May 1", "last": "2026-05-10"}]}, "not an ISO date"),
        ({"arrays": [{"meter": "nowhere", "kwp": 3.0}]}, "not an emulated"),
        ({"site": {"timezone": "Mars/Olympus_Mons"}}, "not an IANA time zone"),
        ({"site": {"start_date": "2026-02-30"}}, "not an ISO date"),
        ({"loads": [{"meter": "hall", "kind": "dorms"}]}, "did you mean .dorm."),
    ],
)
def test_bad_calendars_arrays_and_loads_are_config_errors(
    extra: dict[str, Any], needle: str
) -> None:
    with pytest.raises(ConfigError, match=needle):
        parse_bench_config(doc(**extra))


def test_emulated_meters_follow_the_generated_days() -> None:
    bench = parse_bench_config(
        doc(
            arrays=[{"meter": "roof", "kwp": 21.0, "tilt_deg": 15.0}],
            loads=[{"meter": "hall", "kind": "library"}, {"meter": "roof", "kind": "lab"}],
            calendar=[{"first": "2026-05-12", "last": "2026-05-20"}],
        )
    )
    meters = {m.meter_id: m for m in emulated_meters(bench)}
    roof, hall = meters["roof"].physics.profile, meters["hall"].physics.profile
    assert roof is not None and hall is not None
    noon = 12.5 * 3600
    # the roof exports at noon (PV beats the lab's load), imports the lab's standby at night
    assert roof.power_at(noon) < -5_000
    assert roof.power_at(2 * 3600) == pytest.approx(6000 * 0.3)
    # day 0 (11 May) is a term day, day 1 (12 May) the vacation's first
    term_w, vacation_w = hall.power_at(noon), hall.power_at(DAY_S + noon)
    assert term_w == pytest.approx(40_000.0)
    assert vacation_w == pytest.approx(40_000 * (0.15 + 0.85 * 0.3))
    # the scaled profile (load control) scales the generated days too
    assert hall.scaled(0.5).power_at(noon) == pytest.approx(20_000.0)
