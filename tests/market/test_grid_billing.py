"""The audit's grid checks, the [grid]/[battery]/strategy config and the flexible load,
each against numbers worked out by hand."""

from __future__ import annotations

import tomllib

import pytest

from bench.config import FlexibleLoad, parse_scenario
from bench.errors import ConfigError
from bench.events import MeteredEnergy
from bench.scenario.agents import Agent
from bench.scenario.flexible import FlexibleSchedule
from pricing import (
    AuditPolicy,
    Clearing,
    GridFlow,
    IntervalRecord,
    MarketView,
    SettledTrade,
    Side,
    Trade,
    audit,
)

POLICY = AuditPolicy(loss_fraction=0.02, tolerance_wh=2.0, tolerance_fraction=0.0, carry_wh=1.0)


def _record(grid_sold_wh: int, feeder_import_wh: float) -> IntervalRecord:
    # the flat imports 1000 Wh, the roof exports 400 Wh: 400 Wh trade locally, 600 Wh
    # come from the grid; the feeder sees 600 Wh plus 2 % losses of what is injected
    trades = [Trade("flat", "roof", 400, 200), Trade("flat", "grid", grid_sold_wh, 200)]
    return IntervalRecord(
        1,
        [MeteredEnergy("flat", 1000.0, 0.0), MeteredEnergy("roof", 0.0, 400.0)],
        Clearing(200, sum(t.energy_wh for t in trades), trades),
        [SettledTrade.of(t) for t in trades],
        feeder_import_wh=feeder_import_wh,
        grid=GridFlow("grid", feeder_import_wh, 0.0),
    )


# F = (1000 - 400 + 0.02 * 400) / 0.98: the feeder import with 2 % losses, by hand
FEEDER_WH = (1000 - 400 + 0.02 * 400) / 0.98


def test_a_feeder_fully_billed_by_the_grid_is_clean() -> None:
    report = audit([_record(600, FEEDER_WH)], POLICY)
    assert report.clean, report.messages()


def test_feeder_energy_the_grid_did_not_bill_is_a_finding() -> None:
    report = audit([_record(500, FEEDER_WH)], POLICY)  # 100 Wh never billed
    (finding,) = [f for f in report.findings if f.kind == "unbilled_feeder"]
    # unbilled = F − losses − sold = F − 0.02 (400 + F) − 500 = 100 Wh exactly
    assert finding.amount == pytest.approx(FEEDER_WH - 0.02 * (400 + FEEDER_WH) - 500)
    assert finding.amount == pytest.approx(100.0)
    assert finding.participant == "grid"


def test_the_grid_selling_more_than_the_feeder_imported_is_oversold() -> None:
    report = audit([_record(900, FEEDER_WH)], POLICY)
    kinds = {f.kind for f in report.findings}
    assert {"oversold", "unbilled_feeder"} <= kinds


GRID_CONFIG = """
[scenario]
feeder_meter = "feeder"
{scenario}

[[meters]]
id = "roof"
kind = "fake"

[[meters]]
id = "store"
kind = "fake"

[[meters]]
id = "feeder"
kind = "fake"

[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"
strategy = "tariff"
tariff_position = 0.25

[[participants]]
name = "agg"
role = "prosumer"
meter = "store"

{tables}
"""

GRID = """
[grid]
import_schedule = [[0, 150], [17, 300]]
feed_in_wei_per_wh = 70
"""


def _config(tables: str = GRID, scenario: str = "") -> object:
    return parse_scenario(tomllib.loads(GRID_CONFIG.format(tables=tables, scenario=scenario)))


def test_grid_and_tariff_strategy_from_the_config() -> None:
    config = _config()
    tariff = config.grid.tariff  # type: ignore[attr-defined]
    assert tariff.import_tariff_wei_per_wh(18.0) == 300
    assert tariff.import_tariff_wei_per_wh(9.0) == 150
    roof = Agent(config.participants[0].agent)  # type: ignore[attr-defined]
    view = MarketView(300.0, 70.0, 250.0)
    (offer,) = roof.orders(MeteredEnergy("roof", 0.0, 10.0), 0.0, view)
    assert (offer.side, offer.price_wei_per_wh) == (Side.OFFER, 70 + round(0.25 * 230))


@pytest.mark.parametrize(
    ("tables", "scenario", "message"),
    [
        ("[grid]\nimport_schedule = [[1, 150]]", "", "hours ascending from 0"),
        ("[grid]\nimport_schedule = [[0, 50]]\nfeed_in_wei_per_wh = 80", "", "feed-in"),
        ("[grid]\nparticipant = 'roof'", "", "give the grid its own name"),
        ('[battery]\nparticipant = "agg"\nmeter = "roof"', "", "not the meter of 'agg'"),
        ('[battery]\nparticipant = "nobody"\nmeter = "store"', "", "not a [[participants]]"),
    ],
)
def test_bad_grid_or_battery_is_a_config_error(tables: str, scenario: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[")):
        _config(tables, scenario)


def test_a_grid_needs_the_feeder_meter() -> None:
    text = GRID_CONFIG.format(tables=GRID, scenario="").replace('feeder_meter = "feeder"', "")
    with pytest.raises(ConfigError, match="feeder_meter"):
        parse_scenario(tomllib.loads(text))


def _flexible(responsive: bool) -> FlexibleSchedule:
    return FlexibleSchedule(FlexibleLoad(1200.0, 2000.0, 2, 5), 0.25, responsive=responsive)


def test_a_flexible_load_goes_to_the_cheapest_intervals_and_conserves_its_energy() -> None:
    prices = {2: 300.0, 3: 100.0, 4: 300.0, 5: 90.0}
    schedule = _flexible(responsive=True)
    drawn = []
    for i in range(1, 7):
        power_w = schedule.power_w(i, prices.get)  # type: ignore[arg-type]
        energy_wh = power_w * 0.25  # the meter draws exactly the setpoint
        schedule.book(i, energy_wh)
        drawn.append(energy_wh)
    # 1200 Wh at most 0.8 × 2000 W × 0.25 h = 400 Wh per interval: the cheapest three
    # (5 at 90, 3 at 100, then 2 before 4 at 300 on the tie)
    assert drawn == pytest.approx([0.0, 400.0, 400.0, 0.0, 400.0, 0.0])
    even = _flexible(responsive=False)
    flat = []
    for i in range(1, 7):
        energy_wh = even.power_w(i, prices.get) * 0.25  # type: ignore[arg-type]
        even.book(i, energy_wh)
        flat.append(energy_wh)
    assert flat == pytest.approx([0.0, 300.0, 300.0, 300.0, 300.0, 0.0])
