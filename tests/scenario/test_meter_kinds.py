"""A scenario on fake meters and a real board: what the kinds can and cannot do, said."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest

from bench.chain import Anvil
from bench.config import load_scenario
from bench.emulator import EmulatedMeter, MeterFarm
from bench.events import IntervalReport, RunSummary, StatusEvent
from bench.scenario.worker import ScenarioWorker

pytestmark = pytest.mark.chain

CONFIG = """
[bench]
reading_interval_s = 0.05
reset_wait_s = 0

[scenario]
market_interval_s = 900
intervals = 2
speed = 3600

[[meters]]
id = "roof"
kind = "fake"
power_w = -8000.0

[[meters]]
id = "clinic"
kind = "firmata"
port = "{port}"
allow_default_key = true

[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"

[[participants]]
name = "clinic"
role = "responsive"
meter = "clinic"
elasticity = 0.4
"""


def test_a_responsive_participant_on_a_real_board_is_told_it_has_no_load_control(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bench.toml"
    # an emulated meter stands in for a board; it runs at the scenario's speed
    with MeterFarm(speed=3600.0) as farm, Anvil() as node:
        board = farm.add(EmulatedMeter("clinic", power_w=3000.0))
        path.write_text(CONFIG.format(port=board.port))
        runner = ScenarioWorker(load_scenario(path, chain_url=node.url))
        runner.start()
        runner.join(timeout=120)
    assert runner.error is None, runner.error
    events = []
    while True:
        try:
            events.append(runner.events.get_nowait())
        except queue.Empty:
            break
    warnings = [e.message for e in events if isinstance(e, StatusEvent) and e.level == "warning"]
    (warning,) = [w for w in warnings if "load control" in w]
    assert "clinic" in warning and "firmata" in warning and "will not follow the price" in warning
    # the fake roof sold to the real board's load, and the run settled on chain
    reports = [e for e in events if isinstance(e, IntervalReport)]
    summary = events[-1]
    assert isinstance(summary, RunSummary) and summary.intervals == 2 == len(reports)
    assert summary.trades_settled > 0 and summary.escrow_conserved
