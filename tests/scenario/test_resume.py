"""Intent rows, and ``gridbench run --resume``: a run killed at each step of an
interval's settlement settles that interval exactly once, with its Settlement reported.

Each kill point is the state a SIGKILL leaves there: the journal as committed at that
instant (copied through SQLite's backup API from another connection, which sees only
committed data) and the chain as it was (Anvil's whole state dumped at that instant);
the bench's own Anvil died with the bench, so the resume restarts it from that state.
"""

from __future__ import annotations

import csv
import json
import math
import shutil
import sqlite3
from dataclasses import dataclass
from pathlib import Path

import pytest
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from bench.chain import Anvil
from bench.chain.audit import audit_interval
from bench.chain.client import ChainClient
from bench.config import load_scenario
from bench.errors import ChainError
from bench.events import BenchEvent, IntervalReport, RunSummary, SettleIntent
from bench.report import format_report, replay
from bench.scenario.resume import recover_run, resume_run
from bench.scenario.worker import ANVIL_STATE, ScenarioWorker
from bench.store import Journal, JournalRecorder
from gridbench.cli import main
from tests.scenario.conftest import TWO_METERS, chain_of

pytestmark = pytest.mark.chain

KILLED = 2  # the interval whose settlement each kill interrupts


@dataclass
class KillPoint:
    journal: Path
    state: Path


class Killer(JournalRecorder):
    """The run's journal recorder, keeping what a SIGKILL would leave at each kill point
    of interval ``KILLED``."""

    def __init__(self, runs: Path, node: Anvil, out: Path) -> None:
        super().__init__(runs)
        self.node, self.out = node, out
        self.client = ChainClient(node.url)
        self.intents: list[tuple[int, bool, bool, str]] = []
        out.mkdir()

    def _witness(self, intent: SettleIntent) -> None:
        """At each intent, from another connection: is its row committed, and does the
        node still not know the transaction (not sent yet)? And the journal's mode."""
        assert self.path is not None
        other = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        try:
            row = other.execute(
                "SELECT COUNT(*) FROM settle_intent WHERE tx_hash = ?", (intent.tx_hash,)
            ).fetchone()
            mode = other.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            other.close()
        try:
            self.client.w3.eth.get_transaction(HexBytes(intent.tx_hash))
            unsent = False
        except TransactionNotFound:
            unsent = True
        self.intents.append((intent.interval_id, row == (1,), unsent, mode))

    def _keep(self, name: str) -> Path:
        assert self.path is not None
        copy = self.out / f"{name}.sqlite"
        source = sqlite3.connect(f"file:{self.path}?mode=ro", uri=True)
        target = sqlite3.connect(copy)
        source.backup(target)  # what is committed, nothing the writer holds uncommitted
        source.close()
        target.close()
        return copy

    def record(self, event: BenchEvent) -> None:
        if isinstance(event, IntervalReport) and event.interval_id == KILLED:
            self._keep("after_receipt")  # the receipt is in, the interval not committed
            self.node.dump_state(self.out / "after_receipt.json")
        super().record(event)
        if isinstance(event, IntervalReport) and event.interval_id == KILLED:
            self._keep("recorded")  # the interval committed (its chain state saved later)
        if isinstance(event, SettleIntent):
            self._witness(event)
        if isinstance(event, SettleIntent) and event.interval_id == KILLED:
            self._keep("intent")  # the intent is committed, the transaction not yet sent
            self.node.dump_state(self.out / "before_send.json")


@dataclass(frozen=True)
class LiveRun:
    run_dir: Path
    report: IntervalReport
    kills: Path
    market_address: str
    reports: dict[int, IntervalReport]
    intents: list[tuple[int, bool, bool, str]]
    chain: dict[str, dict[str, object]]


def run_to_the_end(folder: Path, config_text: str, node: Anvil) -> LiveRun:
    """``config_text`` run from ``folder`` to its end against ``node``, its kill points
    kept in ``folder / "kills"``."""
    path = folder / "bench.toml"
    path.write_text(config_text)
    killer = Killer(folder / "runs", node, folder / "kills")
    runner = ScenarioWorker(load_scenario(path, chain_url=node.url), recorders=[killer])
    runner.start()
    runner.join(timeout=180)
    assert not runner.is_alive() and runner.error is None, runner.error
    events = []
    while not runner.events.empty():
        events.append(runner.events.get_nowait())
    summary = events[-1]
    assert isinstance(summary, RunSummary) and summary.journal_path is not None
    reports = {e.interval_id: e for e in events if isinstance(e, IntervalReport)}
    chain = {
        tx_hash: dict(killer.client.w3.eth.get_transaction(HexBytes(tx_hash)))
        for r in reports.values()
        if (tx_hash := r.settlement.tx_hash) is not None
    }
    return LiveRun(
        Path(summary.journal_path).parent,
        reports[KILLED],
        folder / "kills",
        summary.market_address,
        reports,
        killer.intents,
        chain,
    )


@pytest.fixture(scope="module")
def live_run(tmp_path_factory: pytest.TempPathFactory) -> LiveRun:
    """One run to the end against an Anvil it attaches to, its kill points kept."""
    with Anvil() as node:
        return run_to_the_end(tmp_path_factory.mktemp("live"), TWO_METERS, node)


def test_each_settlement_has_its_intent_before_the_send_and_its_receipt_after(
    live_run: LiveRun,
) -> None:
    # committed, not yet on the node, the journal in WAL mode: at every settlement
    assert live_run.intents == [(i, True, True, "wal") for i in (1, 2, 3)]
    journal = Journal(live_run.run_dir / "journal.sqlite", read_only=True)
    assert journal.unrecorded_intents() == []
    rows = journal._db.execute(
        "SELECT interval_id, tx_hash, calldata, receipt_tx_hash, block_number "
        "FROM settle_intent ORDER BY interval_id"
    ).fetchall()
    mode = journal._db.execute("PRAGMA journal_mode").fetchone()[0]
    journal.close()
    assert [r[0] for r in rows] == [1, 2, 3]
    for interval_id, tx_hash, calldata, receipt_tx, block in rows:
        settlement = live_run.reports[interval_id].settlement
        assert (tx_hash, receipt_tx, block) == (
            settlement.tx_hash,
            settlement.tx_hash,
            settlement.block_number,
        )
        sent = live_run.chain[tx_hash]
        assert "0x" + bytes(sent["input"]).hex() == calldata  # the chain's own copy
    assert mode == "delete"  # closed: one file again


def _killed_run(live: LiveRun, tmp_path: Path, journal: str, state: str) -> Path:
    """A run folder as the SIGKILL left it: that journal, its keys, that Anvil state, and
    a chain URL nobody answers on any more (the bench's own Anvil died with it)."""
    run_dir = tmp_path / "killed"
    run_dir.mkdir()
    shutil.copy(live.kills / f"{journal}.sqlite", run_dir / "journal.sqlite")
    shutil.copytree(live.run_dir / "journal.sqlite.keys", run_dir / "journal.sqlite.keys")
    shutil.copy(live.kills / f"{state}.json", run_dir / ANVIL_STATE)
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        db.execute("UPDATE run SET value = ? WHERE key = 'chain_url'", (json.dumps(_DEAD),))
    return run_dir


_DEAD = "http://127.0.0.1:9"  # the discard port: connection refused


@pytest.mark.parametrize(
    ("journal", "state", "sent_again"),
    [
        ("intent", "before_send", True),  # killed before the send
        ("intent", "after_receipt", False),  # killed between the send and the receipt
        pytest.param(  # after the receipt, before the commit (the same chain as above)
            "after_receipt", "after_receipt", False, marks=pytest.mark.slow
        ),
    ],
    ids=["before-send", "send-to-receipt", "receipt-to-commit"],
)
def test_a_killed_settlement_is_settled_exactly_once_on_resume(
    live_run: LiveRun, tmp_path: Path, journal: str, state: str, sent_again: bool
) -> None:
    run_dir = _killed_run(live_run, tmp_path, journal, state)
    before = Journal(run_dir / "journal.sqlite", read_only=True)
    assert [i.interval_id for i in before.unrecorded_intents()] == [KILLED]
    before.close()
    with chain_of(run_dir, live_run.market_address) as market:
        sent_before = market.client.w3.eth.get_transaction_count(market.operator.address)
    lines: list[str] = []
    (recovered,) = recover_run(run_dir, lines.append)
    assert "restarted" in lines[0]
    live = live_run.report.settlement
    got = recovered.settlement
    assert recovered.sent_again is sent_again
    assert (got.interval_id, got.batch_hash) == (KILLED, live.batch_hash)
    assert (got.value_settled_wei, got.energy_settled_wh) == (
        live.value_settled_wei,
        live.energy_settled_wh,
    )
    assert got.settled_trades == live.settled_trades
    assert got.rejected_trades == live.rejected_trades
    if not sent_again:
        assert got.tx_hash == live.tx_hash  # read back, not settled a second time
    # the chain as the resume left it (saved again): the interval settled exactly once
    with chain_of(run_dir, live_run.market_address) as market:
        assert [e.interval_id for e in market.settler.events(KILLED)] == [KILLED]
        assert market.settled_intervals() == [1, 2]
        operator_txs = market.client.w3.eth.get_transaction_count(market.operator.address)
    assert operator_txs == sent_before + int(sent_again)  # one transaction, or none at all
    # a second resume finds nothing to do, and sends nothing
    assert recover_run(run_dir) == []
    after = Journal(run_dir / "journal.sqlite", read_only=True)
    assert after.unrecorded_intents() == []
    after.close()
    with chain_of(run_dir, live_run.market_address) as market:
        assert market.client.w3.eth.get_transaction_count(market.operator.address) == operator_txs


def test_the_cli_resumes_reports_the_settlement_and_runs_the_rest(
    live_run: LiveRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run_dir = _killed_run(live_run, tmp_path, "intent", "before_send")
    assert main(["run", "--resume", str(run_dir), "--json"]) == 0  # complete and clean
    out = json.loads(capsys.readouterr().out)
    (row,) = out["recovered"]
    live = live_run.report.settlement
    assert row["interval_id"] == KILLED and row["sent_again"] is True
    assert row["value_settled_wei"] == live.value_settled_wei
    assert row["trades_settled"] == len(live.settled_trades)
    assert out["verdict_pass"] is True and out["intervals"] == 3  # interval 3 run now
    journal = Journal(run_dir / "journal.sqlite", read_only=True)
    recorded = [k.interval_id for k in journal.intervals()]
    recovered = journal.recovered_settlements()
    resumed = {k.interval_id: k for k in journal.intervals()}
    states = {i: journal.carry_state(i) for i in (KILLED, 3)}
    journal.close()
    assert (recorded, list(recovered)) == ([1, 3], [KILLED])
    # the run carried on from the state journaled with the killed interval's intent
    # (as the uninterrupted run journaled it): each agent's sub-Wh rest and the bench's
    # attested counters went on from there, not from zero or the chain's whole Wh
    live_journal = Journal(live_run.run_dir / "journal.sqlite", read_only=True)
    assert states[KILLED] == live_journal.carry_state(KILLED)
    live_journal.close()
    before, after = states[KILLED], states[3]
    assert before is not None and after is not None
    assert any(abs(a["carry_wh"]) > 1e-9 for a in before["agents"].values())  # a rest to keep
    for m in resumed[3].metered:
        name = m.participant
        kept = before["counters_wh"][name]
        assert after["counters_wh"][name] == [kept[0] + m.import_wh, kept[1] + m.export_wh]
        net_wh = m.import_wh - m.export_wh + before["agents"][name]["carry_wh"]
        rest_wh = net_wh - math.copysign(math.floor(abs(net_wh)), net_wh)
        assert after["agents"][name]["carry_wh"] == pytest.approx(rest_wh, abs=1e-9)
    with chain_of(run_dir, live_run.market_address) as market:  # as the resume left it
        assert [[e.interval_id for e in market.settler.events(i)] for i in (1, 2, 3)] == [
            [1],
            [2],
            [3],
        ]
        on_chain = {i: audit_interval(market, i).settlement for i in (1, 2, 3)}
    # the report lists the interval the resume settled in its place, with its transaction
    table = format_report(replay(run_dir / "journal.sqlite")).splitlines()
    firsts = [line.split()[0] for line in table[2:5]]
    assert firsts == ["1", str(KILLED), "3"]
    assert "settled by a resume (sent again)" in table[3] and recovered[KILLED][0] in table[3]
    # and so do its CSV tables, with the value the chain settled
    assert main(["report", str(run_dir), "--csv", str(tmp_path / "csv")]) == 0
    with (tmp_path / "csv" / "intervals.csv").open() as f:
        shown = {int(r["interval"]): r for r in csv.DictReader(f)}
    assert sorted(shown) == [1, KILLED, 3]
    assert shown[KILLED]["settled by"] == "a resume (sent again)"
    assert int(shown[KILLED]["value_wei"]) == live.value_settled_wei
    assert shown[1]["settled by"] == shown[3]["settled by"] == "the run"
    assert int(shown[KILLED]["settled"]) == len(live.settled_trades)
    # its trades are the chain's, in its transaction, and count in every participant's
    # totals: each paid and received what the chain's three settlements moved
    with (tmp_path / "csv" / "trades.csv").open() as f:
        trades = [r for r in csv.DictReader(f) if r["status"] == "settled"]
    assert sorted(
        (int(r["interval"]), r["buyer"], r["seller"], int(r["energy (Wh)"]), r["transaction"])
        for r in trades
    ) == sorted(
        (i, t.buyer, t.seller, t.energy_wh, s.tx_hash)
        for i, s in on_chain.items()
        for t in s.settled_trades
    )
    with (tmp_path / "csv" / "participants.csv").open() as f:
        totals = {r["participant"]: r for r in csv.DictReader(f)}
    for name in ("roof", "flat"):
        paid = sum(
            t.value_wei for s in on_chain.values() for t in s.settled_trades if t.buyer == name
        )
        got = sum(
            t.value_wei for s in on_chain.values() for t in s.settled_trades if t.seller == name
        )
        assert (int(totals[name]["paid_wei"]), int(totals[name]["received_wei"])) == (paid, got)
    # the attack: the interval's amounts rewritten, buyer and seller swapped (its totals
    # unchanged): the journal alone cannot tell, the chain can
    forged = tmp_path / "forged"
    shutil.copytree(run_dir, forged)
    db = sqlite3.connect(forged / "journal.sqlite")
    db.execute("UPDATE amount SET buyer = seller, seller = buyer WHERE interval_id = ?", (KILLED,))
    db.commit()
    db.close()
    assert replay(forged / "journal.sqlite").clean
    with chain_of(run_dir, live_run.market_address) as market:  # reconciled with the chain
        reconciled = replay(run_dir / "journal.sqlite", chain_url=market.client.url)
        caught = replay(forged / "journal.sqlite", chain_url=market.client.url)
    assert reconciled.chain_checked and reconciled.clean, reconciled.audit.findings
    assert {(f.kind, f.interval_id) for f in caught.audit.findings} == {("chain_mismatch", KILLED)}


def test_intervals_the_saved_state_lost_are_settled_again_once_from_the_journal(
    live_run: LiveRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The orphan Anvil gone and its state saved before interval 2 (the state is saved
    every few intervals, not after each): the journal recorded interval 2, the chain
    the run restarts from never saw it. The resume sends its journaled transaction again
    once, as it was signed (its nonce is still the operator's next); the chain ends with
    every interval once, interval 2 in the very transaction and batch it had."""
    run_dir = _killed_run(live_run, tmp_path, "recorded", "before_send")
    with chain_of(run_dir, live_run.market_address) as market:
        assert market.settled_intervals() == [1]  # the saved state lacks interval 2
    assert main(["run", "--resume", str(run_dir), "--json"]) == 0  # complete and clean
    out = json.loads(capsys.readouterr().out)
    assert out["recovered"] == [] and out["intervals"] == 3 and out["verdict_pass"] is True
    journal = Journal(run_dir / "journal.sqlite", read_only=True)
    resettled = journal.resettled()
    recorded = {k.interval_id: k.tx_hash for k in journal.intervals()}
    journal.close()
    assert list(resettled) == [KILLED] and resettled[KILLED] == recorded[KILLED]
    live = live_run.report.settlement
    with chain_of(run_dir, live_run.market_address) as market:
        assert [[e.interval_id for e in market.settler.events(i)] for i in (1, 2, 3)] == [
            [1],
            [2],
            [3],
        ]
        (event,) = market.settler.events(KILLED)
        assert event.tx_hash == resettled[KILLED]
        again = audit_interval(market, KILLED).settlement
    assert (again.batch_hash, again.value_settled_wei, again.energy_settled_wh) == (
        live.batch_hash,
        live.value_settled_wei,
        live.energy_settled_wh,
    )
    assert again.settled_trades == live.settled_trades
    # a second resume has nothing to settle again, and sends nothing
    with chain_of(run_dir, live_run.market_address) as market:
        sent = market.client.w3.eth.get_transaction_count(market.operator.address)
    assert recover_run(run_dir) == []
    with chain_of(run_dir, live_run.market_address) as market:
        assert market.client.w3.eth.get_transaction_count(market.operator.address) == sent


def test_an_intent_without_the_carried_state_resumes_with_it_started_afresh(
    live_run: LiveRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The killed interval's intent journaled without the state (as a bench from before
    it did; the recorded intervals' states are in their digests, so only this one can be
    missing): the resume says what starts afresh, and the run and the report's order
    replay still add up."""
    run_dir = _killed_run(live_run, tmp_path, "intent", "before_send")
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        db.execute("DELETE FROM carry_state WHERE interval_id = ?", (KILLED,))
    assert main(["run", "--resume", str(run_dir), "--json"]) == 0  # complete and clean
    assert json.loads(capsys.readouterr().out)["verdict_pass"] is True
    journal = Journal(run_dir / "journal.sqlite", read_only=True)
    warned = [s.message for s in journal.status_lines() if "start afresh" in s.message]
    journal.close()
    assert warned == [
        f"the journal holds no state after interval {KILLED}: the battery's state of charge, "
        "the strategies and the flexible loads start afresh"
    ]


def test_the_carried_state_of_a_recorded_interval_is_in_its_digest(
    live_run: LiveRun, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A state edited after its interval was recorded (a state of charge raised, so a
    resume would start from it) breaks the journal's digest chain: the report says so."""
    path = tmp_path / "journal.sqlite"
    shutil.copy(live_run.run_dir / "journal.sqlite", path)
    with sqlite3.connect(path) as db:
        (text,) = db.execute("SELECT state_json FROM carry_state WHERE interval_id = 1").fetchone()
        state = json.loads(text)
        state["market"]["soc_wh"] += 1000.0
        db.execute(
            "UPDATE carry_state SET state_json = ? WHERE interval_id = 1", (json.dumps(state),)
        )
    assert main(["report", str(path), "--json"]) == 1
    findings = json.loads(capsys.readouterr().out)["findings"]
    assert findings == [
        "interval 1: digest_mismatch: the interval's record was edited after the run"
    ]


def test_a_resume_without_its_chain_fails_saying_what_to_do(
    live_run: LiveRun, tmp_path: Path
) -> None:
    run_dir = _killed_run(live_run, tmp_path, "intent", "before_send")
    (run_dir / ANVIL_STATE).unlink()  # the chain gone, and no state to restart it from
    with pytest.raises(ChainError, match="kept no Anvil state"):
        recover_run(run_dir)
    journal = Journal(run_dir / "journal.sqlite", read_only=True)
    assert [i.interval_id for i in journal.unrecorded_intents()] == [KILLED]  # still to do
    journal.close()


def test_a_settlement_the_chain_refuses_fails_the_resume_and_runs_nothing_more(
    live_run: LiveRun, tmp_path: Path
) -> None:
    # the pending intent's calldata settles an interval the contract refuses (beyond its
    # step bound): the resume must say so, never skip it and carry the run on
    run_dir = _killed_run(live_run, tmp_path, "intent", "before_send")
    with sqlite3.connect(run_dir / "journal.sqlite") as db:
        (calldata,) = db.execute(
            "SELECT calldata FROM settle_intent WHERE interval_id = ?", (KILLED,)
        ).fetchone()
        far = calldata[:10] + (99).to_bytes(32, "big").hex() + calldata[74:]
        db.execute("UPDATE settle_intent SET calldata = ? WHERE interval_id = ?", (far, KILLED))
    with pytest.raises(ChainError):
        resume_run(run_dir)
    journal = Journal(run_dir / "journal.sqlite", read_only=True)
    assert [i.interval_id for i in journal.unrecorded_intents()] == [KILLED]  # still to do
    assert journal.recovered_settlements() == {}
    assert [k.interval_id for k in journal.intervals()] == [1]
    journal.close()
