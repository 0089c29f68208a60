"""The bundled scenario library: listed, valid, and each week what its name says."""

from __future__ import annotations

import contextlib
import io
import math
import tomllib

import pytest

from bench.config import load_scenario, parse_scenario
from bench.config.reference import resolved_toml
from bench.errors import ConfigError
from bench.fixtures import SCENARIO_TITLES, scenario_config
from gridbench.cli import main

WEEKS = {"vacation-week": "vacation", "term-week": "term", "monsoon-week": "term"}


def test_scenario_list_names_every_library_scenario() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["scenario", "list", "--paths"]) == 0
    text = out.getvalue()
    for name in SCENARIO_TITLES:
        assert name in text and str(scenario_config(name)) in text


@pytest.mark.parametrize(("name", "kind"), WEEKS.items())
def test_each_week_is_seven_days_of_its_calendar_with_forty_meters(name: str, kind: str) -> None:
    config = load_scenario(scenario_config(name))
    days = config.intervals * config.market_interval_s / 86_400
    assert days == 7 and config.start_hour == 0
    assert len(config.bench.meters) >= 40
    site = config.bench.site
    assert {config.bench.day_kind(site.date_of(d)) for d in range(7)} == {kind}
    assert (site.latitude_deg, site.longitude_deg) == (25.26, 82.99)
    areas = {p.area for p in config.participants}
    assert areas == {"campus", "city"}
    assert math.isclose(sum(a.kwp for a in config.bench.arrays), 395.0)


def test_the_vacation_week_is_in_may_and_the_monsoon_week_cloudier() -> None:
    vacation = load_scenario(scenario_config("vacation-week")).bench.site
    monsoon = load_scenario(scenario_config("monsoon-week")).bench.site
    assert vacation.start_date.month == 5
    assert monsoon.cloud_cover > 3 * vacation.cloud_cover


def test_an_unknown_scenario_names_the_library() -> None:
    with pytest.raises(ConfigError, match="vacation-week"):
        scenario_config("holiday-week")
    assert main(["run", "--scenario", "holiday-week"]) == 2


def test_the_resolved_config_reads_back_the_same_site_arrays_loads_and_calendar() -> None:
    config = load_scenario(scenario_config("vacation-week"))
    again = parse_scenario(tomllib.loads(resolved_toml(config)))
    for name in ("site", "arrays", "loads", "calendar"):
        assert getattr(again.bench, name) == getattr(config.bench, name), name
    assert [p.area for p in again.participants] == [p.area for p in config.participants]


@pytest.mark.parametrize("name", sorted(WEEKS))
def test_every_participant_that_imports_bids_at_least_the_grids_price(name: str) -> None:
    """Whoever imports is served: its bid reaches the grid's offer at every hour of the
    tariff (a roof that bid its selling price at night left its load unbilled by the
    feeder), and the supply cap stays within what the grid offers."""
    from bench.events import MeteredEnergy
    from bench.scenario.agents import Agent
    from pricing import MarketView

    config = load_scenario(scenario_config(name))
    assert config.grid is not None
    tariff = config.grid.tariff
    for start, _ in config.grid.import_schedule:
        view = MarketView(
            float(tariff.import_tariff_wei_per_wh(start)), float(tariff.feed_in_wei_per_wh), 0.0
        )
        for p in config.participants:
            if p.agent.participant == config.battery.participant:  # type: ignore[union-attr]
                continue  # the battery buys only to charge, at the HJB's price
            (bid,) = Agent(p.agent).orders(MeteredEnergy(p.agent.participant, 100, 0), 0.0, view)
            assert bid.price_wei_per_wh >= view.import_tariff_wei_per_wh, p.agent.participant
    assert max(w for _, w in config.grid.supply_cap_schedule) <= config.grid.import_limit_w
