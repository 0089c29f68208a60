"""The run journal: everything a run measured, ordered and settled, in SQLite."""

from bench.store.journal import Journal, RecordedInterval
from bench.store.provenance import provenance, recorder_for, rerun_config
from bench.store.recorder import JournalRecorder, Recorder

__all__ = [
    "Journal",
    "JournalRecorder",
    "RecordedInterval",
    "Recorder",
    "provenance",
    "recorder_for",
    "rerun_config",
]
