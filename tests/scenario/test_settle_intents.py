"""An intent row without its receipt is what a resume must settle (the run's intents
and receipts are checked on a real run in test_resume.py)."""

from __future__ import annotations

from pathlib import Path

from bench.events import SettleIntent
from bench.store import Journal


def test_an_intent_without_its_receipt_is_unrecorded(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.add_settle_intent(SettleIntent(900.0, 1, "0xab", 7, "0x1234"))
    journal.close()
    reopened = Journal(tmp_path / "journal.sqlite", read_only=True)
    assert reopened.unrecorded_intents() == [SettleIntent(900.0, 1, "0xab", 7, "0x1234")]
