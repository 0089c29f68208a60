"""No local market (``utility``, ``gridbench run --mode conventional``): everyone trades
with the grid at its tariffs, and the audit backs the grid by every meter, by hand."""

from __future__ import annotations

import pytest

from bench.config import parse_scenario
from bench.errors import ConfigError
from bench.events import MeteredEnergy
from pricing import (
    MECHANISMS,
    AuditPolicy,
    Clearing,
    GridFlow,
    IntervalRecord,
    Order,
    SettledTrade,
    Side,
    Trade,
    audit,
    pay_as_clear,
    utility,
)

POLICY = AuditPolicy(loss_fraction=0.02, tolerance_wh=2.0, tolerance_fraction=0.0, carry_wh=1.0)
BOOK = [
    Order("roof", Side.OFFER, 400, 110),  # asks above the feed-in: the utility pays 80 anyway
    Order("flat", Side.BID, 1000, 300),
    Order("shop", Side.BID, 700, 120),  # bids below the tariff: the utility serves it anyway
    Order("grid", Side.OFFER, 1500, 200),
    Order("grid", Side.BID, 1000, 80),
]


def test_every_order_trades_with_the_grid_at_its_tariff_whatever_its_limit() -> None:
    clearing = utility(BOOK)
    assert clearing.mechanism == "utility" and MECHANISMS["utility"] is utility
    assert list(clearing.trades) == [
        Trade("flat", "grid", 1000, 200),
        Trade("shop", "grid", 700, 200),  # beyond the grid's 1500 Wh offer: it serves all
        Trade("grid", "roof", 400, 80),
    ]
    assert clearing.price_wei_per_wh is None and clearing.volume_wh == 2100
    # (300 − 200)·1000 + (120 − 200)·700 + (80 − 110)·400
    assert clearing.welfare_wei == 100_000 - 56_000 - 12_000
    # without the grid's bid nobody sells
    assert [t.seller for t in utility(BOOK[:-1]).trades] == ["grid", "grid"]
    # a market would have matched the roof with the flat instead
    assert any(t.seller == "roof" and t.buyer == "flat" for t in pay_as_clear(BOOK).trades)


def _record(trades: list[Trade], mechanism: str) -> IntervalRecord:
    # the flat imports 1000 Wh and the roof exports 400: the feeder nets them (with 2 %
    # losses of what is injected), while the utility delivered 1000 and took 400
    feeder_wh = (1000 - 400 + 0.02 * 400) / 0.98
    return IntervalRecord(
        1,
        [MeteredEnergy("flat", 1000.0, 0.0), MeteredEnergy("roof", 0.0, 400.0)],
        Clearing(None, sum(t.energy_wh for t in trades), trades, mechanism=mechanism),
        [SettledTrade.of(t) for t in trades],
        feeder_import_wh=feeder_wh,
        grid=GridFlow("grid", feeder_wh, 0.0),
    )


GROSS = [Trade("flat", "grid", 1000, 200), Trade("grid", "roof", 400, 80)]


def test_the_utility_is_backed_by_every_meter_and_still_bills_the_feeders_net() -> None:
    assert audit([_record(GROSS, "utility")], POLICY).clean
    # the same trades in a market: the grid sold 1000 Wh through a feeder that imported 620
    market = audit([_record(GROSS, "pay_as_clear")], POLICY)
    assert [f.kind for f in market.findings] == ["oversold", "overbought"]
    # the utility that forgets the roof's export leaves the feeder's net unbilled
    (unbilled,) = audit([_record(GROSS[:1], "utility")], POLICY).findings
    assert unbilled.kind == "unbilled_feeder" and unbilled.amount == pytest.approx(-400.0)


def test_the_utility_needs_a_grid_named_grid() -> None:
    doc = {
        "scenario": {"feeder_meter": "feeder"},
        "meters": [{"id": "m", "kind": "fake"}, {"id": "feeder", "kind": "fake"}],
        "participants": [{"name": "p", "meter": "m"}],
        "market": {"mechanism": "utility"},
    }
    with pytest.raises(ConfigError, match="needs a \\[grid\\] named 'grid'"):
        parse_scenario(doc)
    with pytest.raises(ConfigError, match="needs a \\[grid\\] named 'grid'"):
        parse_scenario({**doc, "grid": {"participant": "city"}})
    config = parse_scenario({**doc, "grid": {"import_schedule": [[0, 150], [17, 300]]}})
    # the utility settles within what each participant signs: feed-in up, the top tariff down
    (p,) = config.participants
    assert (p.agent.strategy, p.agent.offer_price_wei_per_wh, p.agent.bid_price_wei_per_wh) == (
        "fixed",
        80,
        300,
    )
    # the grid's signed orders cover any meter's energy: the feeder limits are physical
    assert config.grid is not None and config.grid.export_limit_w == 100_000.0
    assert [o.energy_wh for o in config.grid.tariff.orders(0.0, 0.25)] == [2_500_000] * 2
