"""Agents: orders from metered energy, sub-Wh carry-over, demand response."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from bench.scenario.agents import Agent, AgentSpec, MeteredEnergy, Role
from pricing import Side


def test_prosumer_offers_net_export_and_bids_net_import() -> None:
    spec = AgentSpec("roof", Role.PROSUMER, offer_price_wei_per_wh=80, bid_price_wei_per_wh=290)
    agent = Agent(spec)
    (offer,) = agent.orders(MeteredEnergy("roof", import_wh=2.5, export_wh=120.75), time_s=900.0)
    assert (offer.side, offer.energy_wh, offer.price_wei_per_wh) == (Side.OFFER, 118, 80)
    assert (offer.participant, offer.time_s) == ("roof", 900.0)
    # 0.25 Wh of export waits; at night the roof imports and bids for the net.
    (bid,) = agent.orders(MeteredEnergy("roof", import_wh=10.5, export_wh=0.0), time_s=1800.0)
    assert (bid.side, bid.energy_wh, bid.price_wei_per_wh) == (Side.BID, 10, 290)


def test_nobody_trades_with_itself() -> None:
    agent = Agent(AgentSpec("roof", Role.PROSUMER))
    for imp, exp in [(5.0, 5.0), (100.0, 3.0), (3.0, 100.0), (0.4, 0.2)]:
        assert len(agent.orders(MeteredEnergy("roof", imp, exp), 0.0)) <= 1


def test_sub_wh_rest_carries_over_so_no_energy_is_lost() -> None:
    agent = Agent(AgentSpec("flat", Role.CONSUMER))
    bids = [
        sum(o.energy_wh for o in agent.orders(MeteredEnergy("flat", 0.25, 0.0), 0.0))
        for _ in range(41)
    ]
    # 41 × 0.25 Wh = 10.25 Wh: 10 whole Wh bid, one every fourth interval; 0.25 Wh waits.
    assert sum(bids) == 10
    assert bids[:8] == [0, 0, 0, 1, 0, 0, 0, 1]
    exporter = Agent(AgentSpec("pv", Role.PROSUMER))
    offers = [
        sum(o.energy_wh for o in exporter.orders(MeteredEnergy("pv", 0.0, 0.5), 0.0))
        for _ in range(9)
    ]
    assert sum(offers) == 4  # 4.5 Wh exported: 4 offered, 0.5 Wh waits


def test_no_orders_without_energy() -> None:
    agent = Agent(AgentSpec("idle", Role.CONSUMER))
    assert agent.orders(MeteredEnergy("idle", 0.0, 0.0), 0.0) == []


def test_responsive_demand_falls_when_price_rises() -> None:
    scales: list[float] = []
    spec = AgentSpec("city", Role.RESPONSIVE, elasticity=0.5, reference_price_wei_per_wh=200)
    agent = Agent(spec, set_load_scale=scales.append)
    cheap = agent.respond_to_signal(100)
    dear = agent.respond_to_signal(400)
    assert cheap == pytest.approx((200 / 100) ** 0.5)
    assert dear == pytest.approx((200 / 400) ** 0.5)
    assert dear < 1.0 < cheap
    assert scales == [cheap, dear]
    assert agent.respond_to_signal(None) == dear  # no price: unchanged


def test_only_responsive_agents_scale_their_load() -> None:
    agent = Agent(AgentSpec("flat", Role.CONSUMER, elasticity=0.5))
    assert agent.respond_to_signal(1000) == 1.0


def test_bad_spec_is_a_config_error_that_says_what_to_fix() -> None:
    with pytest.raises(ConfigError, match="elasticity"):
        AgentSpec("x", Role.RESPONSIVE, elasticity=-1.0)
    with pytest.raises(ConfigError, match="bench config"):
        AgentSpec("x", Role.CONSUMER, bid_price_wei_per_wh=-5)
