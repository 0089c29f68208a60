"""Procedure, worker and recorder apart: one interval in, one record out; the worker's
thread, flags and typed events; pausing stops simulated time."""

from __future__ import annotations

import threading
import time
import tomllib
from pathlib import Path

import pytest

from bench.chain import Anvil
from bench.config import load_scenario, parse_scenario
from bench.events import (
    IntervalReport,
    LinkState,
    MeteredEnergy,
    MeterLink,
    RunSummary,
    WorkerState,
    WorkerStatus,
)
from bench.scenario.agents import Agent
from bench.scenario.procedure import IntervalProcedure
from bench.scenario.settlement import ChainSession
from bench.scenario.worker import ScenarioWorker, in_run_clean
from pricing import Finding
from tests.configs import consumer, meter_block, prosumer, run_config

pytestmark = pytest.mark.chain


def _config(url: str, intervals: int) -> str:
    """Two fake meters read every 20 ms: the roof exports 8 kW, the flat draws 3."""
    return run_config(
        intervals=intervals,
        reading_interval_s=0.02,
        sections={"chain": {"url": url, "deposit_wei": 50000000}},
        meters=[meter_block("roof", "fake", -8000.0), meter_block("flat", "fake", 3000.0)],
        participants=[prosumer("roof", 80), consumer("flat", 300)],
    )


def test_the_procedure_turns_one_interval_into_one_record() -> None:
    with Anvil() as node:
        config = parse_scenario(tomllib.loads(_config(node.url, intervals=1)))
        with ChainSession.open(config, lambda *_: None) as chain:
            agents = {p.agent.participant: Agent(p.agent) for p in config.participants}
            procedure = IntervalProcedure(config, agents, chain)
            threads = threading.active_count()
            metered = {
                "roof": MeteredEnergy("roof", 0.0, 2000.4),
                "flat": MeteredEnergy("flat", 750.6, 0.0),
            }
            report = procedure.run(1, 900.0, metered, feeder_import_wh=None)
            assert threading.active_count() == threads  # no thread of its own
            price = report.pricing.clearing.price_wei_per_wh
            assert price is not None
            flat_wei = chain.market.balance_wei("flat")
    # the roof offered its whole 2000 Wh, the flat bid for its whole 750 Wh: 750 Wh trade
    assert [(o.participant, o.energy_wh) for o in report.orders] == [("roof", 2000), ("flat", 750)]
    assert report.pricing.clearing.volume_wh == 750
    assert report.settlement.settled_trades == report.pricing.clearing.trades
    assert report.settlement.value_settled_wei == 750 * price
    assert flat_wei == 50_000_000 - 750 * price  # what the chain holds, not a copy
    assert report.metered == tuple(metered.values()) and report.findings == ()
    assert report.balance.unexplained_wh is None  # no feeder: not measured


def test_pause_stops_simulated_time_and_resume_carries_on(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    with Anvil() as node:
        path.write_text(_config(node.url, intervals=3))
        worker = ScenarioWorker(load_scenario(path))
        seen: list[object] = []

        def next_event(timeout_s: float = 30.0) -> object:
            event = worker.events.get(timeout=timeout_s)
            seen.append(event)
            return event

        worker.pause()  # holds after the first interval
        worker.start()
        while not isinstance(next_event(), IntervalReport):
            pass
        while not (isinstance(e := next_event(), WorkerStatus) and e.state is WorkerState.PAUSED):
            pass
        time.sleep(1.0)  # four intervals' worth of real time at 3600x
        assert not any(isinstance(e, IntervalReport) for e in list(worker.events.queue))
        worker.resume()
        worker.join(timeout=60)
    while not worker.events.empty():
        seen.append(worker.events.get_nowait())
    assert worker.error is None, worker.error
    reports = [e for e in seen if isinstance(e, IntervalReport)]
    states = [e.state for e in seen if isinstance(e, WorkerStatus)]
    assert states == [
        WorkerState.RUNNING,
        WorkerState.PAUSED,
        WorkerState.RUNNING,
        WorkerState.FINISHED,
    ]
    assert isinstance(seen[-1], RunSummary) and seen[-1].intervals == 3
    assert [r.interval_id for r in reports] == [1, 2, 3]
    # the fakes integrate on the paused clock: 8 kW for 15 simulated minutes, not more
    print(
        [e for e in seen if type(e).__name__ in ("MeterLate", "EnergyCatchUp", "EnergyUnaccounted")]
    )
    roof = [next(m for m in r.metered if m.participant == "roof") for r in reports]
    assert [m.export_wh for m in roof[1:]] == pytest.approx([2000.0, 2000.0], rel=0.05)
    links = [e for e in seen if isinstance(e, MeterLink)]
    assert {(e.meter_id, e.state) for e in links} == {
        ("roof", LinkState.ONLINE),
        ("flat", LinkState.ONLINE),
    }


def test_a_late_meters_interval_balance_is_left_to_the_verdict_and_nothing_else() -> None:
    """An interval cut with a meter late is off balance by the energy its catch-up brings
    later (the replay balances the two together, tests/report/test_catch_ups.py); every
    other finding, and an imbalance of an interval without a late meter, fails the run."""
    imbalance = Finding(22, "energy_imbalance", "209.9 Wh missing", amount=209.9)
    assert in_run_clean([imbalance], late_intervals={22})
    assert not in_run_clean([imbalance], late_intervals={14})
    assert not in_run_clean([imbalance], late_intervals=set())
    overcharge = Finding(22, "overcharge", "settled 10 wei over energy × price", amount=10)
    assert not in_run_clean([imbalance, overcharge], late_intervals={22})
    assert in_run_clean([], late_intervals=set())
