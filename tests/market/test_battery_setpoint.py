"""The battery's next setpoint is commanded before the interval is settled on chain, and the
responsive load answers the published instantaneous price.

Settlement is the slow part of an interval (a transaction and its receipt); a setpoint
sent after it reaches the battery late whenever the worker lags, and the battery runs the
first part of the next interval on the last one's power. One layer isolated: the
procedure with the demo's config, a battery load control that records its power, and a
chain session that records that power when it is asked to settle (same call, same
Settlement it returns). Nothing depends on real time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pytest

from bench.chain import Settlement
from bench.config import load_scenario
from bench.events import MeteredEnergy
from bench.fixtures import demo_config
from bench.scenario.agents import Agent
from bench.scenario.procedure import IntervalProcedure
from pricing import Order, Trade


class _Battery:
    def __init__(self) -> None:
        self.power_w = 0.0

    def true_power_w(self) -> float:
        return self.power_w

    def set_power(self, power_w: float) -> None:
        self.power_w = power_w


class _Chain:
    """Settles every trade; records the battery's power at the moment it is asked."""

    def __init__(self, battery: _Battery) -> None:
        self.battery = battery
        self.power_at_settle_w: list[float] = []

    def settle(
        self,
        interval_id: int,
        trades: Sequence[Trade],
        metered: Mapping[str, MeteredEnergy],
        *,
        orders: Sequence[Order] = (),
        signed: object = None,
    ) -> Settlement:
        self.power_at_settle_w.append(self.battery.power_w)
        return Settlement(
            interval_id,
            "0x" + "00" * 32,
            "0x" + "00" * 32,
            interval_id,
            tuple(trades),
            (),
            0,
            sum(t.value_wei for t in trades),
            sum(t.energy_wh for t in trades),
        )


def test_the_setpoint_is_out_before_the_chain_settles() -> None:
    config = load_scenario(demo_config(), intervals=3)
    assert config.battery is not None
    battery = _Battery()
    chain = _Chain(battery)
    agents = {p.agent.participant: Agent(p.agent) for p in config.participants}
    procedure = IntervalProcedure(
        config,
        agents,
        chain,  # type: ignore[arg-type]
        {config.battery.participant: battery},
    )
    procedure.prepare_first(0.0)
    setpoints = []
    for interval_id in (1, 2, 3):
        # by participant, and a supply point's by its meter (the fleet's keys)
        metered = {
            name: MeteredEnergy(name, 400.0 * interval_id, 0.0 if name != "roof" else 900.0)
            for name in [*agents, *(s.meter_id for s in config.sessions)]
        }
        report = procedure.run(interval_id, 900.0 * interval_id, metered, None)
        assert report.battery_setpoint_w is not None
        setpoints.append(report.battery_setpoint_w)
    assert chain.power_at_settle_w == setpoints  # commanded already, not after settling
    assert any(abs(s) > 1.0 for s in setpoints)  # a real setpoint, not the idle one


def test_the_responsive_load_answers_the_published_price_not_the_cleared_one() -> None:
    """The demo's clinic (elasticity 0.4 against 150 wei/Wh, scale bounded to [0.5, 1.5])
    rescales its load once per interval, to (p / 150)^-0.4 of the price p published for
    the coming interval, computed here by hand from the published signal."""
    config = load_scenario(demo_config(), intervals=4)
    assert config.battery is not None
    battery = _Battery()
    scales: dict[str, list[float]] = {p.agent.participant: [] for p in config.participants}
    agents = {
        name: Agent(spec, set_load_scale=scales[name].append)
        for name, spec in ((p.agent.participant, p.agent) for p in config.participants)
    }
    procedure = IntervalProcedure(
        config,
        agents,
        _Chain(battery),  # type: ignore[arg-type]
        {config.battery.participant: battery},
    )
    published = [procedure.prepare_first(0.0)]
    cleared = []
    for interval_id in (1, 2, 3):
        metered = {
            name: MeteredEnergy(name, 400.0 * interval_id, 0.0 if name != "roof" else 900.0)
            for name in [*agents, *(s.meter_id for s in config.sessions)]
        }
        report = procedure.run(interval_id, 900.0 * interval_id, metered, None)
        cleared.append(report.pricing.clearing.price_wei_per_wh)
        assert procedure.signal is not None and procedure.signal.interval_id == interval_id + 1
        published.append(procedure.signal)

    def response(price: float) -> float:
        return min(max((price / 150.0) ** -0.4, 0.5), 1.5)

    expected = [response(s.price_wei_per_wh) for s in published]
    assert scales["clinic"] == pytest.approx(expected, rel=1e-12)
    # the cleared price would give another load: the test tells the two apart
    assert any(
        abs(response(float(c)) - e) > 1e-3
        for c, e in zip(cleared, expected[1:], strict=True)
        if c is not None
    )
    assert not any(scales[name] for name in scales if name != "clinic")
