"""A resumed run continues as the uninterrupted run would have: the oracle is the same
scenario run without a break.

One layer isolated (nothing here depends on real time, so the comparison is exact): the
interval procedure with the demo's config (a battery on the HJB policy, a flexible
heater, a price-responsive clinic) and two ZIP bidders, loads that record their power
and meter what they were told to draw (the loop the resume must carry: the battery's
energy books its state of charge, the heater's draws its window's budget), and a chain
that settles every trade. The run is broken after interval ``K``: a fresh procedure
(fresh agents, fresh loads at rest, as a restarted bench has) restores the state the
first one journaled with interval ``K``'s settle intent, through JSON as the journal
keeps it, and runs the rest.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest

from bench.chain import Settlement
from bench.config import ScenarioConfig, load_scenario
from bench.events import IntervalReport, MeteredEnergy
from bench.fixtures import demo_config
from bench.scenario.agents import Agent
from bench.scenario.procedure import IntervalProcedure
from pricing import Order, Trade

N, K = 8, 3
STEP_H = 0.25


class _Load:
    def __init__(self) -> None:
        self.power_w = 0.0

    def true_power_w(self) -> float:
        return self.power_w

    def set_power(self, power_w: float) -> None:
        self.power_w = power_w


class _Chain:
    """Settles every trade; keeps the procedure's carry state at each settle."""

    def __init__(self) -> None:
        self.procedure: IntervalProcedure | None = None
        self.states: dict[int, str] = {}

    def settle(
        self,
        interval_id: int,
        trades: Sequence[Trade],
        metered: Mapping[str, MeteredEnergy],
        *,
        orders: Sequence[Order] = (),
        signed: object = None,
    ) -> Settlement:
        assert self.procedure is not None and self.procedure.carry_state is not None
        assert self.procedure.carry_state["interval_id"] == interval_id
        self.states[interval_id] = json.dumps(self.procedure.carry_state)  # as journaled
        zero = "0x" + "00" * 32
        return Settlement(
            interval_id, zero, zero, interval_id, tuple(trades), (), 0,
            sum(t.value_wei for t in trades), sum(t.energy_wh for t in trades),
        )  # fmt: skip


@pytest.fixture(scope="module")
def config(tmp_path_factory: pytest.TempPathFactory) -> ScenarioConfig:
    text = demo_config().read_text()
    text = text.replace(  # two learning bidders: ZIP's margins and random draws carry over
        'meter = "roof-lib"\n', 'meter = "roof-lib"\nstrategy = "zip"\nzip_margin = 0.3\n'
    ).replace(
        'meter = "dorm"\nstrategy = "tariff"\ntariff_position = 1.0',
        'meter = "dorm"\nstrategy = "zip"\nzip_margin = -0.4',
    )
    # the heater's window inside the run: 3 kWh in N intervals, at most 600 Wh each
    text = text.replace("flexible_energy_wh = 7000", "flexible_energy_wh = 3000").replace(
        "flexible_last = 24", f"flexible_last = {N}"
    )
    path = Path(tmp_path_factory.mktemp("demo")) / "bench.toml"
    path.write_text(text)
    return load_scenario(path, intervals=N)


class _Run:
    """A procedure, its agents and loads, stepped interval by interval."""

    def __init__(self, config: ScenarioConfig) -> None:
        assert config.battery is not None
        self.config = config
        self.scales: list[float] = []
        self.agents = {
            p.agent.participant: Agent(
                p.agent, self.scales.append if p.agent.participant == "clinic" else None
            )
            for p in config.participants
        }
        self.loads = {config.battery.participant: _Load(), "heater": _Load()}
        self.chain = _Chain()
        self.procedure = IntervalProcedure(config, self.agents, self.chain, self.loads)  # type: ignore[arg-type]
        self.chain.procedure = self.procedure
        self.powers: dict[int, tuple[float, float]] = {}  # interval -> (battery, heater) W

    def run(self, interval_id: int) -> IntervalReport:
        battery = self.loads["storage"].power_w
        heater = self.loads["heater"].power_w
        self.powers[interval_id] = (battery, heater)
        scale = self.agents["clinic"].load_scale
        # a sunny noon on the roofs, what each load was told to draw on the others
        use_w = {"dorm": 3000.0 + 150.0 * interval_id, "shop": 1200.0, "clinic": 2000.0 * scale}
        use_w |= {"heater": 300.0 + heater, "storage": battery}
        make_w = {"library": 5000.0 + 400.0 * (interval_id % 3), "labs": 4200.0}
        metered = {
            name: MeteredEnergy(
                name,
                max(use_w.get(name, 0.0), 0.0) * STEP_H,
                (make_w.get(name, 0.0) + max(-use_w.get(name, 0.0), 0.0)) * STEP_H,
            )
            for name in [*self.agents, *(s.meter_id for s in self.config.sessions)]
        }
        return self.procedure.run(interval_id, 900.0 * interval_id, metered, None)


def _seen(report: IntervalReport) -> tuple[object, ...]:
    """What a run decides in an interval: orders, the clearing, its price, the state of
    charge, the battery's next setpoint and the published price."""
    clearing = report.pricing.clearing
    return (
        [(o.participant, o.side, o.energy_wh, o.price_wei_per_wh) for o in report.orders],
        clearing.price_wei_per_wh,
        clearing.volume_wh,
        [(t.buyer, t.seller, t.energy_wh, t.price_wei_per_wh) for t in clearing.trades],
        report.pricing.price.as_dict(),
        report.soc_wh,
        report.battery_setpoint_w,
    )


@pytest.fixture(scope="module")
def whole(config: ScenarioConfig) -> tuple[_Run, dict[int, tuple[object, ...]]]:
    """The oracle: the scenario run without a break."""
    run = _Run(config)
    run.procedure.prepare_first(0.0)
    return run, {i: _seen(run.run(i)) for i in range(1, N + 1)}


def _broken(config: ScenarioConfig, restore: bool = True) -> tuple[_Run, _Run]:
    first = _Run(config)
    first.procedure.prepare_first(0.0)
    for i in range(1, K + 1):
        first.run(i)
    second = _Run(config)
    if restore:
        assert second.procedure.restore(json.loads(first.chain.states[K])) == K
    second.procedure.prepare_first(900.0 * K, K + 1)
    return first, second


def test_a_resumed_procedure_trades_and_prices_as_the_uninterrupted_one(
    config: ScenarioConfig, whole: tuple[_Run, dict[int, tuple[object, ...]]]
) -> None:
    whole_run, expected = whole
    _, resumed = _broken(config)
    got = {i: _seen(resumed.run(i)) for i in range(K + 1, N + 1)}
    assert got == {i: expected[i] for i in range(K + 1, N + 1)}  # exact, not approximate
    # the loads were driven the same from the first interval after the break: the
    # battery's setpoint and the heater's power (the resumed rig's loads started at rest)
    assert {i: resumed.powers[i] for i in got} == {i: whole_run.powers[i] for i in got}
    assert resumed.scales == whole_run.scales[K:]  # the clinic answered the same prices
    # what the test rests on: the state it carries does change the outcome
    zip_bids = {o[3] for i in got for o in got[i][0] if o[0] == "dorm"}
    assert len(zip_bids) > 1, "the ZIP bidder never moved its price"
    assert all(whole_run.powers[i][0] != 0.0 for i in got)  # the battery runs
    assert any(whole_run.powers[i][1] != 0.0 for i in got)  # the heater draws


@pytest.mark.parametrize("lost", ["soc", "strategies", "flexible", "all"])
def test_a_resume_that_drops_any_part_of_the_state_trades_otherwise(
    config: ScenarioConfig, whole: tuple[_Run, dict[int, tuple[object, ...]]], lost: str
) -> None:
    """The oracle above can fail: restoring a state with one part reset to its start
    (the state of charge as initial, the ZIP margins, the heater's energy drawn) changes
    what the rest of the run does."""
    expected = [whole[1][i] for i in range(K + 1, N + 1)]
    first, _ = _broken(config, restore=False)
    state = json.loads(first.chain.states[K])
    fresh = json.loads(json.dumps(_Run(config).procedure._state(0, 0.0, None)))
    if lost in ("soc", "all"):
        state["market"]["soc_wh"] = fresh["market"]["soc_wh"]
    if lost in ("strategies", "all"):
        for name in ("library", "dorm"):
            state["agents"][name] = fresh["agents"][name]
    if lost in ("flexible", "all"):
        state["flexible"] = fresh["flexible"]
    resumed = _Run(config)
    resumed.procedure.restore(state)
    resumed.procedure.prepare_first(900.0 * K, K + 1)
    got = [_seen(resumed.run(i)) for i in range(K + 1, N + 1)]
    assert got != expected
