"""The run journal: everything a run measured, ordered and settled, in SQLite."""

from bench.store.journal import (
    CatchUpRow,
    Journal,
    NotAJournalError,
    RecordedInterval,
    SentTx,
)
from bench.store.provenance import provenance, recorder_for, rerun_config
from bench.store.recorder import JournalRecorder, Recorder

__all__ = [
    "CatchUpRow",
    "Journal",
    "JournalRecorder",
    "NotAJournalError",
    "RecordedInterval",
    "Recorder",
    "SentTx",
    "provenance",
    "recorder_for",
    "rerun_config",
]
