"""The bench's own Anvil killed with ``kill -9`` mid-run: it is restarted from the state
saved after the last interval, the transactions since are sent again, and the run goes
on with every interval settled on chain exactly once."""

from __future__ import annotations

import os
import signal
from pathlib import Path
from urllib.parse import urlparse

import pytest

from bench.chain import Market
from bench.chain.keys import KeyRing
from bench.config import load_scenario
from bench.events import BenchEvent, BenchStatus, IntervalReport, RunStarted, RunSummary
from bench.scenario.worker import ScenarioWorker
from bench.store import JournalRecorder
from tests.scenario.conftest import TWO_METERS as CONFIG

pytestmark = [pytest.mark.chain, pytest.mark.slow]

INTERVALS = 4
KILL_AFTER = 2


def _anvil_on(port: int) -> int:
    """The pid of the anvil process serving ``port``."""
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            args = cmdline.read_bytes().split(b"\0")
        except OSError:
            continue
        if args and args[0].endswith(b"anvil") and str(port).encode() in args:
            return int(cmdline.parent.name)
    raise AssertionError(f"no anvil on port {port}")


class Killer(JournalRecorder):
    """Kills the run's Anvil once interval ``KILL_AFTER`` is recorded (before its state
    is saved: the settlement of that interval is lost with it), and reads the chain's
    settled intervals when the last one is recorded."""

    def __init__(self, runs: Path) -> None:
        super().__init__(runs)
        self.url = ""
        self.market = ""
        self.settled: list[int] = []

    def record(self, event: BenchEvent) -> None:
        super().record(event)
        if isinstance(event, RunStarted):
            self.url, self.market = event.chain_url, event.market_address
        if isinstance(event, IntervalReport) and event.interval_id == KILL_AFTER:
            os.kill(_anvil_on(urlparse(self.url).port or 0), signal.SIGKILL)
        if isinstance(event, IntervalReport) and event.interval_id == INTERVALS:
            assert self.path is not None
            keys = KeyRing.from_folder(Path(f"{self.path}.keys"))
            market = Market.attach(self.url, self.market, keys=keys, allow_anvil_key=True)
            self.settled = market.settled_intervals()


def test_a_killed_anvil_is_restarted_and_the_run_goes_on(tmp_path: Path) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(CONFIG.replace("intervals = 3", f"intervals = {INTERVALS}"))
    killer = Killer(tmp_path / "runs")
    runner = ScenarioWorker(load_scenario(path), recorders=[killer])
    runner.start()
    runner.join(timeout=240)
    assert not runner.is_alive() and runner.error is None, runner.error
    events = []
    while not runner.events.empty():
        events.append(runner.events.get_nowait())
    summary = events[-1]
    assert isinstance(summary, RunSummary)
    assert summary.intervals == INTERVALS
    lines = [e.message for e in events if isinstance(e, BenchStatus)]
    assert any(m.startswith("Anvil exited") and "restarted" in m for m in lines), lines
    assert killer.settled == list(range(1, INTERVALS + 1))  # interval 2 sent again, once
    assert summary.escrow_conserved
