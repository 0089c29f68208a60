"""A scenario on fake meters and a real board: what the kinds can and cannot do, said."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chain import Anvil
from bench.emulator import EmulatedMeter, MeterFarm
from bench.events import IntervalReport, RunSummary, StatusEvent
from tests.configs import meter_block, participant_block, prosumer, run_config
from tests.worker_runs import run_worker

pytestmark = pytest.mark.chain


def _config(port: str) -> str:
    """A fake roof and a real board (the clinic) on ``port``, its participant responsive."""
    return run_config(
        intervals=2,
        bench={"reset_wait_s": 0},
        meters=[
            meter_block("roof", "fake", -8000.0),
            meter_block("clinic", "firmata", port=port, allow_default_key=True),
        ],
        participants=[
            prosumer("roof"),
            participant_block("clinic", "responsive", elasticity=0.4),
        ],
    )


def test_a_responsive_participant_on_a_real_board_is_told_it_has_no_load_control(
    tmp_path: Path,
) -> None:
    # an emulated meter stands in for a board; it runs at the scenario's speed
    with MeterFarm(speed=3600.0) as farm, Anvil() as node:
        board = farm.add(EmulatedMeter("clinic", power_w=3000.0))
        run = run_worker(_config(board.port), tmp_path, chain_url=node.url)
    events = run.events
    warnings = [e.message for e in events if isinstance(e, StatusEvent) and e.level == "warning"]
    (warning,) = [w for w in warnings if "load control" in w]
    assert "clinic" in warning and "firmata" in warning and "will not follow the price" in warning
    # the fake roof sold to the real board's load, and the run settled on chain
    reports = [e for e in events if isinstance(e, IntervalReport)]
    summary = events[-1]
    assert isinstance(summary, RunSummary) and summary.intervals == 2 == len(reports)
    assert summary.trades_settled > 0 and summary.escrow_conserved
