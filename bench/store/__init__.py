"""The run journal: everything a run measured, ordered and settled, in SQLite."""

from bench.store.journal import Journal

__all__ = ["Journal"]
