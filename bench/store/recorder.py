"""The journal as a listener: it keeps every event a scenario worker emits."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from bench.events import (
    BenchEvent,
    EnergyCatchUp,
    IntervalReport,
    MeterAttested,
    MeterSample,
    RunStarted,
    RunSummary,
    SettleIntent,
    TransactionOutcome,
    TransactionSigned,
    WorkerState,
    WorkerStatus,
)
from bench.store.journal import Journal

_ENDS = (WorkerState.FINISHED, WorkerState.STOPPED, WorkerState.FAILED)


class Recorder(Protocol):
    """A listener that keeps what a run produced; ``path`` is where (None: nowhere)."""

    path: Path | None

    def record(self, event: BenchEvent) -> None:
        """Keep one event (called on the worker's thread, in order)."""

    def close(self) -> None:
        """The run is over: make everything durable."""


class JournalRecorder:
    """Writes a run's events into ``runs_dir/<UTC time>[-<name>]/journal.sqlite``.

    ``name`` is the config's name; ``provenance`` (config text, overrides, versions and
    build hashes; called on the worker's thread when the run starts) is stored with the
    run's meta.
    """

    def __init__(
        self,
        runs_dir: Path | str,
        name: str | None = None,
        provenance: Callable[[], Mapping[str, object]] | None = None,
    ) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        folder = f"{stamp}-{_safe(name)}" if name else stamp
        self.path: Path | None = Path(runs_dir) / folder / "journal.sqlite"
        self._journal: Journal | None = None
        self._provenance = provenance

    @classmethod
    def reopen(cls, path: Path | str) -> JournalRecorder:
        """The recorder of a killed run's journal at ``path``, carried on by a resume
        (its meta stays: the run started already)."""
        recorder = cls(Path(path).parent)
        recorder.path = Path(path)
        return recorder

    def _open(self) -> Journal:
        if self._journal is None:
            assert self.path is not None
            self._journal = Journal(self.path)
        return self._journal

    def record(self, event: BenchEvent) -> None:
        """Meta at the start, samples, intervals and status lines as they come."""
        journal = self._open()
        if isinstance(event, RunStarted):
            extra = self._provenance() if self._provenance is not None else {}
            for key, value in [*vars(event).items(), *extra.items()]:
                journal.set_meta(key, value)
            journal.commit()  # the chain and market now: a run killed later can be resumed
        elif isinstance(event, MeterSample):
            journal.add_sample(event)
        elif isinstance(event, IntervalReport):
            journal.add_interval(event)
        elif isinstance(event, SettleIntent):
            journal.add_settle_intent(event)
        elif isinstance(event, TransactionSigned):
            journal.add_sent_tx(event)
        elif isinstance(event, TransactionOutcome):
            journal.set_tx_outcome(event)
        elif isinstance(event, EnergyCatchUp):
            journal.add_catch_up(event)
            journal.add_event(event.sim_time_s, event.level, event.message)
        elif isinstance(event, RunSummary):
            journal.seal(event.as_dict())
        elif isinstance(event, WorkerStatus) and event.state in _ENDS:
            journal.set_meta("end_state", event.state.value)
            if event.level == "error":
                journal.add_event(event.sim_time_s, event.level, event.message)
        elif isinstance(event, MeterAttested):
            meters = journal.meta("meters")
            meters = dict(meters) if isinstance(meters, dict) else {}
            meters[event.meter_id] = {"attestation": event.attestation, "signer": event.signer}
            journal.set_meta("meters", meters)
            journal.add_event(event.sim_time_s, event.level, event.message)
        elif not isinstance(event, WorkerStatus) or event.level == "error":
            journal.add_event(event.sim_time_s, event.level, event.message)

    def journal_digest(self) -> str | None:
        """The journal's chained digest through its last recorded interval (the genesis
        digest before the first; None before the run started), committed on chain."""
        if self._journal is None or self._journal.meta("config_sha256") is None:
            return None
        return self._journal.last_digest()

    def close(self) -> None:
        """Commit and close the journal (if the run got far enough to open it)."""
        if self._journal is not None:
            self._journal.close()
            self._journal = None


def _safe(name: str) -> str:
    """A config name as a folder name part (letters, digits, ``-``, ``_``, ``.``)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._") or "run"
