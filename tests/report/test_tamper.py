"""The tamper suite: every way of editing a journal named in issue 12 is flagged, with
its amount, by the check that owns it; a forger who also rewrites the hash chain is
still caught by the replayed orders, the re-run clearing, the settled amounts or the
chain; an audit that skips the digest or the amount comparison fails these tests."""

from __future__ import annotations

import re
import sqlite3
import sys
from pathlib import Path

import pytest

from bench.report import check_of, replay
from bench.report.replay import _Replay
from pricing import MECHANISMS, Order, Side
from tests.report.journal_runs import HonestRun, edit, reseal

pytestmark = pytest.mark.chain

OVERCHARGE_7_WEI = (
    "UPDATE amount SET value_wei = CAST(CAST(value_wei AS INTEGER) + 7 AS TEXT) WHERE rowid = 1"
)


def _rows(path: Path, sql: str) -> list[tuple]:
    with sqlite3.connect(path) as db:
        rows = db.execute(sql).fetchall()
    db.close()
    return rows


def _kinds(path: Path, chain_url: str | None = None) -> dict[str, list[float]]:
    out: dict[str, list[float]] = {}
    for f in replay(path, chain_url).audit.findings:
        out.setdefault(f.kind, []).append(f.amount)
    return out


def test_the_honest_run_is_clean_offline_and_against_the_chain(honest_run: HonestRun) -> None:
    assert honest_run.exit_code == 0, honest_run.output
    report = replay(honest_run.journal, honest_run.chain_url)
    assert report.clean, [f.message for f in report.audit.findings]
    assert report.chain_checked == honest_run.chain_url
    assert report.complete and report.planned_intervals == 3
    # both sellers trade in every interval (what the "move" tamper needs)
    sellers = _rows(honest_run.journal, "SELECT DISTINCT seller FROM amount WHERE interval_id=2")
    assert sorted(s for (s,) in sellers) == ["barn", "roof"]


def _first_settled(path: Path) -> tuple[int, int, int, int]:
    (row,) = _rows(
        path,
        "SELECT rowid, interval_id, energy_wh, price_wei_per_wh FROM trade "
        "WHERE status = 'settled' ORDER BY rowid LIMIT 1",
    )
    return row


def test_drop_one_settlement(journal: Path, honest_run: HonestRun) -> None:
    rowid, interval, energy, price = _first_settled(journal)
    edit(journal, f"DELETE FROM trade WHERE rowid = {rowid}")
    found = _kinds(journal)
    assert "digest_mismatch" in found
    assert found["journal_trade_mismatch"] == [-energy * price]
    # the forger drops its amount too and rewrites the hash chain
    edit(
        journal,
        f"DELETE FROM amount WHERE rowid = (SELECT MIN(rowid) FROM amount "
        f"WHERE interval_id = {interval} AND energy_wh = {energy})",
    )
    reseal(journal)
    found = _kinds(journal, honest_run.chain_url)
    assert "digest_mismatch" not in found
    assert found["missing_settlement"] == [energy * price]
    assert found["settled_total_mismatch"] == [-energy * price]
    assert found["chain_mismatch"] == [energy * price]


def test_drop_a_whole_intervals_trades(journal: Path, honest_run: HonestRun) -> None:
    trades = _rows(journal, "SELECT energy_wh * price_wei_per_wh FROM amount WHERE interval_id=2")
    edit(
        journal,
        "DELETE FROM trade WHERE interval_id = 2",
        "DELETE FROM amount WHERE interval_id = 2",
    )
    reseal(journal)
    found = _kinds(journal, honest_run.chain_url)
    value = sum(v for (v,) in trades)
    assert sorted(found["missing_settlement"]) == sorted(v for (v,) in trades)
    assert found["settled_total_mismatch"] == [-value]
    assert sum(found["chain_mismatch"]) == value


def _drop_interval(path: Path, interval: int) -> None:
    tables = ("metered", "feeder", "orders", "clearing", "trade", "settlement", "amount")
    edit(path, *(f"DELETE FROM {t} WHERE interval_id = {interval}" for t in tables))


def test_drop_the_interval_itself(journal: Path, honest_run: HonestRun) -> None:
    (value,) = _rows(journal, "SELECT value_settled_wei FROM settlement WHERE interval_id = 2")[0]
    _drop_interval(journal, 2)
    assert "digest_mismatch" in _kinds(journal)  # interval 3 no longer follows 1
    reseal(journal)
    found = _kinds(journal, honest_run.chain_url)
    assert "missing_interval" in found and "incomplete" in found
    assert found["chain_extra"] == [int(value)]


def test_drop_the_last_interval_is_incomplete(journal: Path) -> None:
    _drop_interval(journal, 3)
    assert "seal_mismatch" in _kinds(journal)
    reseal(journal)
    report = replay(journal)
    assert not report.complete
    assert [f.amount for f in report.audit.findings if f.kind == "incomplete"] == [1]


def test_move_300_wh_between_two_sellers(journal: Path, honest_run: HonestRun) -> None:
    ((price,),) = _rows(journal, "SELECT price_wei_per_wh FROM clearing WHERE interval_id = 2")
    for table in ("trade", "amount"):
        edit(
            journal,
            f"UPDATE {table} SET energy_wh = energy_wh + CASE seller WHEN 'barn' THEN -300 "
            "WHEN 'roof' THEN 300 END WHERE interval_id = 2",
        )
    edit(
        journal,
        f"UPDATE amount SET value_wei = CAST(energy_wh * {price} AS TEXT) WHERE interval_id = 2",
    )
    reseal(journal)
    found = _kinds(journal, honest_run.chain_url)
    assert sorted(found["settlement_differs"]) == [-300 * price, 300 * price]
    # on chain: each seller's real trade is missing from the journal, its forgery extra
    assert sum(found["chain_mismatch"]) == 0 and len(found["chain_mismatch"]) == 4


def test_add_100_wh_to_a_meter(journal: Path) -> None:
    edit(
        journal,
        "UPDATE metered SET import_wh = import_wh + 100 "
        "WHERE interval_id = 2 AND participant = 'flat'",
    )
    assert "digest_mismatch" in _kinds(journal)
    reseal(journal)
    found = _kinds(journal)
    assert found["order_not_metered"] == [-100]


def test_consistent_forgery_of_an_offer(journal: Path, honest_run: HonestRun) -> None:
    """The roof's (marginal) offer raised 70 → 72, the book cleared again and every trade,
    amount and total rewritten to match: only the config's limit price and the chain
    disagree."""
    ((price_before,),) = _rows(journal, "SELECT price_wei_per_wh FROM clearing WHERE interval_id=2")
    orders = [
        Order(p, Side(s), e, price + 2 if p == "roof" else price, t)
        for p, s, e, price, t in _rows(
            journal,
            "SELECT participant, side, energy_wh, price_wei_per_wh, time_s FROM orders "
            "WHERE interval_id = 2 ORDER BY rowid",
        )
    ]
    again = MECHANISMS["pay_as_clear"](orders)
    assert again.price_wei_per_wh != price_before  # the forgery moves money
    ((tx, batch),) = _rows(
        journal, "SELECT tx_hash, batch_hash FROM settlement WHERE interval_id=2"
    )
    edit(
        journal,
        "UPDATE orders SET price_wei_per_wh = price_wei_per_wh + 2 "
        "WHERE interval_id = 2 AND participant = 'roof'",
    )
    edit(
        journal,
        f"UPDATE clearing SET price_wei_per_wh = {again.price_wei_per_wh}, volume_wh = "
        f"{again.volume_wh} WHERE interval_id = 2",
        "DELETE FROM trade WHERE interval_id = 2",
        "DELETE FROM amount WHERE interval_id = 2",
        f"UPDATE settlement SET value_settled_wei = '{again.value_wei}' WHERE interval_id = 2",
    )
    with sqlite3.connect(journal) as db:
        for t in again.trades:
            db.execute(
                "INSERT INTO trade VALUES (2, ?, ?, ?, ?, 'settled', NULL, ?)",
                (t.buyer, t.seller, t.energy_wh, t.price_wei_per_wh, tx),
            )
            db.execute(
                "INSERT INTO amount VALUES (2, ?, ?, ?, ?, ?, ?, ?)",
                (t.buyer, t.seller, t.energy_wh, t.price_wei_per_wh, str(t.value_wei), tx, batch),
            )
    db.close()
    reseal(journal)
    found = _kinds(journal, honest_run.chain_url)
    assert found.pop("order_price_edited") == [2]
    moved = sum(abs(a) for a in found.pop("chain_mismatch"))
    assert len(found.pop("journal_digest_mismatch")) == 1  # interval 3 committed the original
    assert found == {} and moved > 0  # every trade of the interval differs on chain


def test_edit_the_run_tolerance(journal: Path) -> None:
    ((kept,),) = _rows(journal, "SELECT value FROM run WHERE key = 'tolerance_fraction'")
    edit(journal, "UPDATE run SET value = '0.9' WHERE key = 'tolerance_fraction'")
    found = _kinds(journal)
    assert found["policy_edited"] == [pytest.approx(0.9 - float(kept))]


def test_edit_the_recorded_config(journal: Path) -> None:
    edit(
        journal,
        "UPDATE run SET value = replace(value, 'unmetered_load_w = 0', 'unmetered_load_w = 9') "
        "WHERE key = 'config_text'",
    )
    found = _kinds(journal)
    assert "config_hash_mismatch" in found
    assert "digest_mismatch" in found  # the chain starts from the config's hash


def test_overcharge_in_the_amounts(journal: Path) -> None:
    edit(
        journal,
        OVERCHARGE_7_WEI,
    )
    reseal(journal)
    found = _kinds(journal)
    assert found["overcharge"] == [7]
    assert found["settled_total_mismatch"] == [7]
    # a person reads LABC and LABC/kWh (7 wei = 0.000007 LABC); the amounts stay wei
    messages = {f.kind: f.message for f in replay(journal).audit.findings}
    assert "(+0.000007 LABC; tx " in messages["overcharge"]
    assert "LABC/kWh, which is " in messages["overcharge"]
    assert "LABC for" in messages["settled_total_mismatch"]
    assert not [m for m in messages.values() if re.search(r"\bwei\b", m)], messages


def _coverage_edit(path: Path) -> None:
    edit(path, "UPDATE coverage SET readings = readings + 1 WHERE rowid = 1")


def test_an_edit_only_the_digest_sees(journal: Path) -> None:
    """Only the journal's own digests and the digests the chain committed (the run's
    chain is still up: its recorded URL answers) see it."""
    _coverage_edit(journal)
    assert {check_of(f) for f in replay(journal).audit.findings} == {"digest_chain", "chain"}


@pytest.mark.parametrize(
    ("skipped", "tamper"),
    [
        ("_digests", _coverage_edit),
        (
            "_amounts",
            lambda p: (
                edit(
                    p,
                    OVERCHARGE_7_WEI,
                ),
                reseal(p),
            ),
        ),
    ],
)
def test_mutation_an_audit_that_skips_a_comparison_is_caught(
    journal: Path, monkeypatch: pytest.MonkeyPatch, skipped: str, tamper
) -> None:
    """The tampers above are flagged; with the comparison skipped (and, for amounts, the
    market audit's value check too) they pass: so these tests guard the comparisons."""
    tamper(journal)
    assert not replay(journal).clean
    monkeypatch.setattr(_Replay, skipped, lambda self, *a: None)
    # the chain's committed journal digests see both edits too (tests/report/
    # test_chain_digest.py guards that comparison): skipped here
    monkeypatch.setattr(sys.modules["bench.report.chain"], "_digest_findings", lambda *a: [])
    if skipped == "_amounts":
        monkeypatch.setattr(sys.modules["pricing.audit"], "_check_values", lambda record: [])
    assert replay(journal).clean


def test_swap_a_trades_buyer_and_seller(journal: Path, honest_run: HonestRun) -> None:
    """Every trade of interval 2 journaled the other way round, the hash chain rewritten:
    the same energy at the same price, so the totals still add up; the chain, whose
    wallets the audit names by the meters they own (it holds none of the run's keys),
    settled them the right way round (the mutation: trades compared by energy and price
    alone)."""
    for table in ("trade", "amount"):
        edit(journal, f"UPDATE {table} SET buyer = seller, seller = buyer WHERE interval_id = 2")
    reseal(journal)
    trades = _rows(journal, "SELECT energy_wh * price_wei_per_wh FROM amount WHERE interval_id=2")
    found = _kinds(journal, honest_run.chain_url)
    assert "settled_total_mismatch" not in found  # the totals cannot tell
    # each real trade missing from the journal, each swapped one extra
    assert sorted(found["chain_mismatch"]) == sorted(
        [v for (v,) in trades] + [-v for (v,) in trades]
    )
