"""The run report audits a finished run again from its journal alone."""

from __future__ import annotations

import argparse
import sqlite3
from pathlib import Path

import pytest

from bench.chain import Anvil
from bench.cli.report import run_report
from bench.errors import ConfigError
from bench.events import IntervalReport
from bench.report import replay
from tests.configs import consumer, meter_block, prosumer, run_config
from tests.worker_runs import run_worker

pytestmark = pytest.mark.chain


def _config(theft_w: float) -> str:
    """The roof's 10 kW, the flat's 4 kW and the feeder; ``theft_w`` drawn past the meters."""
    return run_config(
        intervals=3,
        scenario={"feeder_meter": "feeder", "unmetered_load_w": theft_w},
        meters=[
            meter_block("roof", "emulated", -10000.0),
            meter_block("flat", "emulated", 4000.0),
            meter_block("feeder", "emulated"),
        ],
        participants=[prosumer("roof"), consumer("flat")],
    )


def _run(tmp_path: Path, theft_w: float) -> tuple[Path, list[IntervalReport]]:
    with Anvil() as node:
        run = run_worker(_config(theft_w), tmp_path, chain_url=node.url, journal=True)
    return Path(run.summary.journal_path or ""), run.reports


def test_replay_reproduces_the_run_and_catches_tampering(tmp_path: Path) -> None:
    journal, reports = _run(tmp_path, theft_w=0.0)
    report = replay(journal)
    # the replay finds what the run found (under load an interval's feeder and load
    # readings can straddle a boundary unevenly, so the run itself may flag one)
    assert report.audit.clean == all(r.audit.clean for r in reports)
    assert [row.unexplained_wh for row in report.rows] == pytest.approx(
        [r.balance.unexplained_wh for r in reports]
    )
    assert [r.interval_id for r in report.rows] == [r.interval_id for r in reports]
    assert [r.value_settled_wei for r in report.rows] == [
        r.settlement.value_settled_wei for r in reports
    ]
    assert (
        report.audit.value_settled_wei == sum(r.settlement.value_settled_wei for r in reports) > 0
    )

    # Someone edits a settled trade's price in the journal: the replay flags it.
    with sqlite3.connect(journal) as db:
        db.execute(
            "UPDATE trade SET price_wei_per_wh = price_wei_per_wh + 1 "
            "WHERE rowid = (SELECT MIN(rowid) FROM trade WHERE status = 'settled')"
        )
    tampered = replay(journal)
    assert not tampered.audit.clean
    kinds = {f.kind for f in tampered.audit.findings}
    assert {"digest_mismatch", "journal_trade_mismatch"} <= kinds  # tests/report: the rest


def test_report_of_a_theft_run_exits_1_with_the_imbalance(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    journal, _ = _run(tmp_path, theft_w=2000.0)
    code = run_report(
        argparse.Namespace(
            journal=journal.parent, runs=tmp_path, json=False, junit=None, chain_url=None
        )
    )
    out = capsys.readouterr().out
    assert code == 1 and "energy_imbalance" in out
    # 2 kW past the meters for 3 × 15 simulated minutes; its split between intervals
    # moves under load, the total does not
    rows = replay(journal).rows
    assert sum(row.unexplained_wh or 0.0 for row in rows) == pytest.approx(1500.0, rel=0.05)


def test_missing_journal_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="gridbench demo"):
        run_report(
            argparse.Namespace(journal=None, runs=tmp_path, json=False, junit=None, chain_url=None)
        )
    with pytest.raises(ConfigError, match=r"journal\.sqlite"):
        replay(tmp_path / "absent.sqlite")
