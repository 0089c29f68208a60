"""Catch-ups (energy a late meter's counters attributed after its cut) are part of the
journal's hash chain and of the report's energy balance.

The honest run's journal is edited the way an outage would have written it: part of a
meter's energy leaves its interval's metered row and comes back as a catch-up, to the
interval it was consumed in or to an outage spanning intervals. The oracle is the honest
run's own balance: with the catch-up counted, the balance is what it was.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from bench.events import EnergyCatchUp
from bench.report import replay
from bench.store import Journal
from tests.report.journal_runs import HonestRun, edit, reseal

pytestmark = pytest.mark.chain


def _one(path: Path, sql: str) -> float:
    with sqlite3.connect(path) as db:
        (value,) = db.execute(sql).fetchone()
    db.close()
    return float(value)


def _flat_wh(path: Path, interval_id: int) -> float:
    return _one(
        path,
        f"SELECT import_wh FROM metered WHERE participant = 'flat' AND interval_id = {interval_id}",
    )


def _end_s(path: Path, interval_id: int) -> float:
    return _one(path, f"SELECT end_sim_time_s FROM settlement WHERE interval_id = {interval_id}")


def _energy_findings(path: Path) -> list[tuple[int, float]]:
    return [
        (f.interval_id, f.amount)
        for f in replay(path).audit.findings
        if f.kind == "energy_imbalance"
    ]


def _unexplained(path: Path) -> list[float | None]:
    return [r.unexplained_wh for r in replay(path).rows]


def _catch_up(interval_id: int | None, from_s: float, to_s: float, import_wh: float) -> str:
    i = "NULL" if interval_id is None else str(interval_id)
    return (
        "INSERT INTO catch_up VALUES ('flat', 'flat', "
        f"{i}, 3, {from_s}, {to_s}, {import_wh}, 0.0, 3)"
    )


def test_an_inserted_or_edited_catch_up_breaks_the_digest_chain(journal: Path) -> None:
    edit(journal, _catch_up(2, 0.0, 1.0, 50.0))
    kinds = {(f.kind, f.interval_id) for f in replay(journal).audit.findings}
    assert ("digest_mismatch", 3) in kinds
    reseal(journal)
    assert not any(f.kind == "digest_mismatch" for f in replay(journal).audit.findings)
    edit(journal, "UPDATE catch_up SET import_wh = 49.0")
    kinds = {(f.kind, f.interval_id) for f in replay(journal).audit.findings}
    assert ("digest_mismatch", 3) in kinds


def test_a_catch_up_after_the_last_interval_is_covered_by_the_seal(journal: Path) -> None:
    j = Journal(journal)
    j.add_catch_up(EnergyCatchUp(0.0, "flat", "flat", 3, 3, 0.0, 1.0, 20.0, 0.0))
    j.close()
    assert _one(journal, "SELECT digested_in FROM catch_up") == 4  # past the last interval
    assert "seal_mismatch" in {f.kind for f in replay(journal).audit.findings}
    reseal(journal)
    assert "seal_mismatch" not in {f.kind for f in replay(journal).audit.findings}
    edit(journal, "UPDATE catch_up SET import_wh = 2.0")
    assert "seal_mismatch" in {f.kind for f in replay(journal).audit.findings}


def test_a_catch_up_joins_the_balance_of_the_interval_it_was_consumed_in(
    journal: Path, honest_run: HonestRun
) -> None:
    honest = _unexplained(honest_run.journal)
    x = _flat_wh(journal, 2)
    edit(
        journal,
        f"UPDATE metered SET import_wh = {0.4 * x} WHERE participant = 'flat' AND interval_id = 2",
        _catch_up(2, _end_s(journal, 2) - 100, _end_s(journal, 2), 0.6 * x),
    )
    reseal(journal)
    assert _energy_findings(journal) == []
    assert _unexplained(journal) == pytest.approx(honest, abs=1e-6)
    # the same outage without its catch-up: the meter's energy is missing from interval 2
    edit(journal, "DELETE FROM catch_up")
    reseal(journal)
    ((interval_id, missing_wh),) = _energy_findings(journal)
    assert interval_id == 2 and missing_wh == pytest.approx(0.6 * x + honest[1], abs=1e-6)


def test_an_outage_catch_up_is_balanced_with_every_interval_it_overlaps(
    journal: Path, honest_run: HonestRun
) -> None:
    honest = _unexplained(honest_run.journal)
    x2, x3 = _flat_wh(journal, 2), _flat_wh(journal, 3)
    edit(
        journal,
        f"UPDATE metered SET import_wh = {0.2 * x2} WHERE participant = 'flat' AND interval_id = 2",
        f"UPDATE metered SET import_wh = {0.3 * x3} WHERE participant = 'flat' AND interval_id = 3",
        _catch_up(None, _end_s(journal, 1) + 10, _end_s(journal, 3) - 10, 0.8 * x2 + 0.7 * x3),
    )
    reseal(journal)
    assert _energy_findings(journal) == []
    rows = _unexplained(journal)
    assert rows[0] == pytest.approx(honest[0], abs=1e-6)
    # intervals 2 and 3 are balanced together: their sum, on the last one
    assert rows[1] is None
    assert rows[2] == pytest.approx(honest[1] + honest[2], abs=1e-6)  # type: ignore[operator]
    cusum = replay(journal).cusum
    assert cusum is not None and [s.interval_id for s in cusum.steps] == [1, 3]


def test_the_feeder_s_catch_up_is_the_feeder_s_whatever_participant_it_is_filed_under(
    journal: Path, honest_run: HonestRun
) -> None:
    """An interval the resume recovered from the chain files the feeder's energy under
    the grid's participant: it is still the feeder's (by its meter), not a consumer's."""
    honest = _unexplained(honest_run.journal)
    x = _one(journal, "SELECT import_wh FROM feeder WHERE interval_id = 2")
    assert abs(x) > 100.0  # enough to show in the balance
    edit(
        journal,
        f"UPDATE feeder SET import_wh = {0.4 * x} WHERE interval_id = 2",
        "INSERT INTO catch_up VALUES ('grid', 'feeder', 2, 3, "
        f"{_end_s(journal, 2) - 100}, {_end_s(journal, 2)}, {0.6 * x}, 0.0, 3)",
    )
    reseal(journal)
    assert _energy_findings(journal) == []
    assert _unexplained(journal) == pytest.approx(honest, abs=1e-6)


def test_a_catch_up_of_an_instant_joins_the_interval_the_bench_came_back_in(
    journal: Path, honest_run: HonestRun
) -> None:
    """Energy a meter counted at a boundary, in no recorded interval's time (a resume at
    the end of interval 1), is balanced with the interval that follows, not the last."""
    honest = _unexplained(honest_run.journal)
    x = _flat_wh(journal, 2)
    at_s = _end_s(journal, 1)
    edit(
        journal,
        f"UPDATE metered SET import_wh = {0.5 * x} WHERE participant = 'flat' AND interval_id = 2",
        _catch_up(None, at_s, at_s, 0.5 * x),
    )
    reseal(journal)
    assert _energy_findings(journal) == []
    assert _unexplained(journal) == pytest.approx(honest, abs=1e-6)
