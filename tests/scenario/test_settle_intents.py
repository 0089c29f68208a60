"""The journal keeps an intent row for each settlement, committed before the transaction
goes out, and its receipt after; the journal is in WAL mode while the run writes."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from bench.chain import Anvil
from bench.chain.client import ChainClient
from bench.config import load_scenario
from bench.events import BenchEvent, IntervalReport, RunSummary, SettleIntent
from bench.scenario.worker import ScenarioWorker
from bench.store import Journal, JournalRecorder

pytestmark = pytest.mark.chain

CONFIG = """
[bench]
reading_interval_s = 0.05

[scenario]
market_interval_s = 900
intervals = 3
speed = 3600

[[meters]]
id = "roof"
kind = "fake"
power_w = -10000.0

[[meters]]
id = "flat"
kind = "fake"
power_w = 8000.0

[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"
offer_price_wei_per_wh = 70

[[participants]]
name = "flat"
role = "consumer"
meter = "flat"
"""


class Witness(JournalRecorder):
    """The run's journal recorder, checking at each intent, from another connection,
    that the row is committed while the node does not know the transaction yet."""

    def __init__(self, runs: Path, url: str) -> None:
        super().__init__(runs)
        self.client = ChainClient(url)
        self.seen: list[tuple[int, bool, bool, str]] = []

    def record(self, event: BenchEvent) -> None:
        super().record(event)
        if not isinstance(event, SettleIntent):
            return
        assert self.path is not None
        other = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            committed = other.execute(
                "SELECT COUNT(*) FROM settle_intent WHERE tx_hash = ?", (event.tx_hash,)
            ).fetchone() == (1,)
            mode = other.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            other.close()
        try:
            self.client.w3.eth.get_transaction(HexBytes(event.tx_hash))
            unsent = False
        except TransactionNotFound:
            unsent = True
        self.seen.append((event.interval_id, committed, unsent, mode))


def test_each_settlement_has_its_intent_before_the_send_and_its_receipt_after(
    tmp_path: Path,
) -> None:
    path = tmp_path / "bench.toml"
    path.write_text(CONFIG)
    with Anvil() as node:
        witness = Witness(tmp_path / "runs", node.url)
        runner = ScenarioWorker(load_scenario(path, chain_url=node.url), recorders=[witness])
        runner.start()
        runner.join(timeout=120)
        assert not runner.is_alive() and runner.error is None, runner.error
        events = []
        while not runner.events.empty():
            events.append(runner.events.get_nowait())
        summary = events[-1]
        assert isinstance(summary, RunSummary) and summary.journal_path is not None
        reports = {e.interval_id: e for e in events if isinstance(e, IntervalReport)}
        assert witness.seen == [(i, True, True, "wal") for i in (1, 2, 3)]
        journal = Journal(summary.journal_path, read_only=True)
        assert journal.unrecorded_intents() == []
        rows = journal._db.execute(
            "SELECT interval_id, tx_hash, calldata, receipt_tx_hash, block_number "
            "FROM settle_intent ORDER BY interval_id"
        ).fetchall()
        assert [r[0] for r in rows] == [1, 2, 3]
        client = ChainClient(node.url)
        for interval_id, tx_hash, calldata, receipt_tx, block in rows:
            settlement = reports[interval_id].settlement
            assert (receipt_tx, block) == (settlement.tx_hash, settlement.block_number)
            assert tx_hash == settlement.tx_hash
            sent = client.w3.eth.get_transaction(HexBytes(tx_hash))
            assert "0x" + bytes(sent["input"]).hex() == calldata  # the chain's own copy
        mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
        assert mode == "delete"  # closed: one file again


def test_an_intent_without_its_receipt_is_unrecorded(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "journal.sqlite")
    journal.add_settle_intent(SettleIntent(900.0, 1, "0xab", 7, "0x1234"))
    journal.close()
    reopened = Journal(tmp_path / "journal.sqlite", read_only=True)
    assert reopened.unrecorded_intents() == [SettleIntent(900.0, 1, "0xab", 7, "0x1234")]
