"""The ``[aggregator]`` table: the two areas it stands between, and what it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.config import load_scenario
from bench.config.overrides import load_with_overrides
from bench.errors import ConfigError
from bench.fixtures import scenario_config

BASE = """
[scenario]
feeder_meter = "feeder"
{grid}
[aggregator]
{aggregator}
[[meters]]
id = "roof"
kind = "fake"
[[meters]]
id = "home"
kind = "fake"
[[meters]]
id = "feeder"
kind = "fake"
[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"
[[participants]]
name = "home"
role = "consumer"
meter = "home"
area = "city"
"""


def _load(tmp_path: Path, aggregator: str = "", grid: str = "[grid]") -> object:
    path = tmp_path / "bench.toml"
    path.write_text(BASE.format(grid=grid, aggregator=aggregator))
    return load_scenario(path)


def test_the_areas_follow_the_participants_area(tmp_path: Path) -> None:
    config = _load(tmp_path, "fee_bp = 250")
    plan = config.area_plan  # type: ignore[attr-defined]
    assert plan.aggregator == "aggregator" and plan.fee_bp == 250 and plan.grid == "grid"
    assert plan.upper == frozenset({"home"}) and plan.in_lower("roof")
    assert not plan.in_lower("home") and not plan.in_lower("grid")


@pytest.mark.parametrize(
    ("aggregator", "grid", "says"),
    [
        ("", "", "needs a [grid]"),
        ('participant = "roof"', "[grid]", "its own name"),
        ('participant = "feeder"', "[grid]", "its own name"),
        ('participant = "grid"', "[grid]", "its own name"),
        ('upper_area = "campus"', "[grid]", "between two areas"),
        ("fee_bp = 10000", "[grid]", "fee_bp"),
    ],
)
def test_a_bad_aggregator_is_refused_saying_what_to_fix(
    tmp_path: Path, aggregator: str, grid: str, says: str
) -> None:
    with pytest.raises(ConfigError, match=says.replace("[", r"\[").replace("]", r"\]")):
        _load(tmp_path, aggregator, grid)


@pytest.mark.parametrize("name", ["vacation-week", "term-week", "monsoon-week"])
def test_the_library_weeks_trade_through_the_aggregator_but_not_conventionally(name: str) -> None:
    market = load_with_overrides(scenario_config(name))
    assert market.area_plan is not None and market.area_plan.upper
    conventional = load_with_overrides(scenario_config(name), {"market.mechanism": "utility"})
    assert conventional.aggregator is None and conventional.area_plan is None
