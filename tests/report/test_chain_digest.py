"""The journal's chained digest is committed on chain with every settlement (and through
the last interval at the run's end): a forger who edits a journal row and rewrites the
journal's own hash chain and seal is still caught against the chain, and an audit that
skips that comparison misses it (the mutation check)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from bench.chain import Market
from bench.report import replay
from bench.store import Journal
from bench.store.digest import chain_digest, genesis
from tests.report.journal_runs import HonestRun, edit, reseal

pytestmark = pytest.mark.chain


def _kinds(path: Path, chain_url: str | None) -> dict[str, list[int]]:
    out: dict[str, list[int]] = {}
    for f in replay(path, chain_url).audit.findings:
        out.setdefault(f.kind, []).append(f.interval_id)
    return out


def test_the_chain_holds_the_journals_digests(honest_run: HonestRun) -> None:
    """Oracle: the digests recomputed here from the journal's rows, each settlement's
    event carrying the head before its interval, the last one in JournalCommitted."""
    journal = Journal(honest_run.journal, read_only=True)
    try:
        previous = genesis(str(journal.meta("config_sha256")))
        expected = {}
        for (i,) in journal._db.execute("SELECT interval_id FROM clearing ORDER BY interval_id"):
            expected[i] = "0x" + previous
            previous = chain_digest(journal.interval_payload(i), previous)
        market = Market.attach(honest_run.chain_url, str(journal.meta("market_address")))
    finally:
        journal.close()
    committed = {e.interval_id: e.journal_digest for e in market.settler.events()}
    assert committed == expected and len(expected) == 3
    assert market.settler.journal_commits() == {3: "0x" + previous}


def _edit_coverage(path: Path, interval_id: int) -> None:
    """A row no other check reads, edited, and the journal's own digests redone."""
    edit(path, f"UPDATE coverage SET readings = readings + 1 WHERE interval_id = {interval_id}")
    reseal(path)


@pytest.mark.parametrize(("edited", "flagged"), [(1, 2), (2, 3), (3, 3)])
def test_an_edited_and_resealed_journal_is_flagged_against_the_chain(
    journal: Path, honest_run: HonestRun, edited: int, flagged: int
) -> None:
    """Interval n's record is committed by interval n+1's settlement; the last by the
    run's JournalCommitted."""
    _edit_coverage(journal, edited)
    assert "digest_mismatch" not in _kinds(journal, None)  # the file alone looks intact
    found = _kinds(journal, honest_run.chain_url)
    assert found["journal_digest_mismatch"] == [flagged]


def test_mutation_an_audit_without_the_chain_digest_check_misses_it(
    journal: Path, honest_run: HonestRun, monkeypatch: pytest.MonkeyPatch
) -> None:
    _edit_coverage(journal, 2)
    assert not replay(journal, honest_run.chain_url).clean
    monkeypatch.setattr(sys.modules["bench.report.chain"], "_digest_findings", lambda *a: [])
    assert replay(journal, honest_run.chain_url).clean
