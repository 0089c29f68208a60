"""The headless run's progress bar on stderr (rich): interval k/N, time left, verdict.

Shown only when stderr is a terminal; a log or CI gets nothing from it.
"""

from __future__ import annotations

import sys

from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn

from bench.config import ScenarioConfig
from bench.events import BenchEvent, IntervalReport, WorkerState, WorkerStatus
from bench.scenario.progress import Progress as Estimate
from bench.scenario.progress import duration_text


class ProgressBar:
    """Follows a run's events and redraws one line."""

    def __init__(self, config: ScenarioConfig, console: Console) -> None:
        self._estimate = Estimate(config.intervals, config.market_interval_s / config.speed)
        self._findings = 0
        self._progress = Progress(
            TextColumn("[bold]interval {task.completed:.0f}/{task.total:.0f}"),
            BarColumn(),
            TextColumn("{task.fields[left]}"),
            TextColumn("{task.fields[verdict]}"),
            console=console,
            transient=True,
        )
        self._task = self._progress.add_task(
            "run", total=config.intervals, left="starting", verdict=""
        )
        self._progress.start()

    @classmethod
    def for_stderr(cls, config: ScenarioConfig) -> ProgressBar | None:
        """A bar on stderr, or None when stderr is not a terminal."""
        console = Console(file=sys.stderr)
        return cls(config, console) if console.is_terminal else None

    def follow(self, event: BenchEvent) -> None:
        """Advance on an interval; stop the clock while paused."""
        if isinstance(event, WorkerStatus):
            if event.state is WorkerState.RUNNING:
                if self._estimate.done == 0:
                    self._estimate.start()
                self._estimate.resume()
            elif event.state is WorkerState.PAUSED:
                self._estimate.pause()
        elif isinstance(event, IntervalReport):
            self._estimate.interval_done(event.interval_id)
            self._findings += len(event.findings)
            verdict = (
                f"[red]{self._findings} audit findings" if self._findings else "[green]audit clean"
            )
            left = f"{duration_text(self._estimate.seconds_left())} left"
            self._progress.update(
                self._task, completed=event.interval_id, left=left, verdict=verdict
            )

    def print(self, line: str) -> None:
        """A note above the bar."""
        self._progress.console.print(line, markup=False, highlight=False)

    def close(self) -> None:
        """Remove the bar."""
        self._progress.stop()
