"""A scenario worker run to its end in a test: the config written to the test's folder,
the worker started and joined, its events drained and its summary checked.

Test modules import it as ``tests.worker_runs``.
"""

from __future__ import annotations

import queue
from dataclasses import dataclass
from pathlib import Path

from bench.config import load_scenario
from bench.events import IntervalReport, RunSummary
from bench.scenario.worker import ScenarioWorker
from bench.store import JournalRecorder


@dataclass(frozen=True)
class WorkerRun:
    """A finished run: the worker, every event it emitted and its summary (the last)."""

    worker: ScenarioWorker
    events: list[object]
    summary: RunSummary

    @property
    def reports(self) -> list[IntervalReport]:
        """The interval reports, in order."""
        return [e for e in self.events if isinstance(e, IntervalReport)]


def run_worker(
    config_text: str,
    tmp_path: Path,
    *,
    chain_url: str | None = None,
    intervals: int | None = None,
    journal: bool = False,
    timeout_s: float = 120.0,
) -> WorkerRun:
    """Run ``config_text`` (written to ``tmp_path/bench.toml``; the overrides as on the
    command line) to its end; with ``journal`` it records into ``tmp_path/runs``.

    Fails the test unless the worker finished within ``timeout_s`` real seconds with no
    error and its last event is its :class:`RunSummary`."""
    path = tmp_path / "bench.toml"
    path.write_text(config_text)
    config = load_scenario(path, chain_url=chain_url, intervals=intervals)
    recorders = [JournalRecorder(tmp_path / "runs")] if journal else []
    worker = ScenarioWorker(config, recorders=recorders)
    worker.start()
    worker.join(timeout=timeout_s)
    assert not worker.is_alive(), f"the scenario did not finish in {timeout_s:g} s"
    events: list[object] = []
    while True:
        try:
            events.append(worker.events.get_nowait())
        except queue.Empty:
            break
    assert worker.error is None, worker.error
    summary = worker.summary
    assert isinstance(summary, RunSummary) and events[-1] is summary
    return WorkerRun(worker, events, summary)
