"""Exit codes and JUnit for CI: ``gridbench run`` and ``gridbench report``.

| case                                         | run | report |
|----------------------------------------------|-----|--------|
| honest, complete, clean                      | 0   | 0      |
| theft or a configured meter that never spoke | 1   | 1      |
| stopped early (4 of 96)                      | 1   | 1      |
| error (no config) / not a journal            | 2   | 2      |
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import sqlite3
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from bench.chain import Anvil
from bench.config import load_scenario
from bench.events import IntervalReport
from bench.report import CHECKS
from bench.scenario.worker import ScenarioWorker
from bench.store import JournalRecorder
from gridbench.cli import main
from tests.report.journal_runs import HonestRun, journal_of, write_config

pytestmark = pytest.mark.chain


def _main(*argv: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(list(argv))
    return code, out.getvalue()


def _cases(path: Path) -> dict[str, ET.Element]:
    """The JUnit file's test cases by name, after checking the structure CI reads."""
    root = ET.parse(path).getroot()
    assert root.tag == "testsuites"
    cases: dict[str, ET.Element] = {}
    for suite in root.findall("testsuite"):
        found = suite.findall("testcase")
        assert int(suite.get("tests", "-1")) == len(found)
        failures = [c for c in found if c.find("failure") is not None]
        assert int(suite.get("failures", "-1")) == len(failures)
        for case in found:
            assert case.get("classname") == suite.get("name")
            assert set(case.attrib) == {"classname", "name", "time"}
            assert [c.tag for c in case] in ([], ["failure"], ["skipped"])
            cases[str(case.get("name"))] = case
    assert int(root.get("tests", "-1")) == len(cases)
    return cases


def test_an_honest_run_exits_0_with_one_passing_case_per_check_and_interval(
    honest_run: HonestRun, tmp_path: Path
) -> None:
    assert honest_run.exit_code == 0, honest_run.output
    assert "verdict: pass" in honest_run.output
    cases = _cases(honest_run.junit)
    assert set(cases) == {*CHECKS, "interval 1", "interval 2", "interval 3"}
    assert all(len(c) == 0 for c in cases.values())  # the chain was reconciled: no skip
    code, out = _main("report", str(honest_run.journal), "--junit", str(tmp_path / "r.xml"))
    assert code == 0 and "audit clean" in out
    assert set(_cases(tmp_path / "r.xml")) == set(cases)


def test_a_theft_run_with_a_silent_meter_exits_1_naming_both(tmp_path: Path) -> None:
    config = write_config(tmp_path, intervals=2, theft_w=3000.0, silent_meter=True)
    junit = tmp_path / "run.xml"
    code, out = _main(
        "run", "--config", str(config), "--journal", str(tmp_path / "runs"), "--junit", str(junit)
    )
    assert code == 1, out
    assert "meter_never_reported: configured meter spare" in out
    assert "energy_imbalance" in out and "verdict: FAIL" in out
    cases = _cases(junit)
    failed = {n for n, c in cases.items() if c.find("failure") is not None}
    assert {"meter_coverage", "energy_balance", "theft_cusum", "interval 1"} <= failed
    failure = cases["meter_coverage"].find("failure")
    assert failure is not None and "spare" in (failure.text or "")
    code, _ = _main("report", str(journal_of(tmp_path / "runs")))
    assert code == 1


def test_a_run_stopped_at_4_of_96_is_incomplete(tmp_path: Path) -> None:
    with Anvil() as node:
        config = load_scenario(write_config(tmp_path, intervals=96), chain_url=node.url)
        worker = ScenarioWorker(config, recorders=[JournalRecorder(tmp_path / "runs")])
        worker.start()
        seen = 0
        while seen < 4:
            if isinstance(worker.events.get(timeout=120), IntervalReport):
                seen += 1
                if seen == 4:
                    worker.stop()  # the interval in progress is the last
        worker.join(timeout=120)
    assert worker.summary is not None
    stopped_at = worker.summary.intervals
    code, out = _main(
        "report", str(journal_of(tmp_path / "runs")), "--junit", str(tmp_path / "r.xml")
    )
    assert code == 1
    assert f"stopped early at {stopped_at} of 96 intervals" in out and "INCOMPLETE" in out
    cases = _cases(tmp_path / "r.xml")
    assert len([n for n in cases if n.startswith("interval ")]) == 96
    assert cases["interval 96"].find("failure") is not None
    assert cases["completeness"].find("failure") is not None


def test_an_error_exits_2(tmp_path: Path) -> None:
    assert _main("run", "--config", str(tmp_path / "absent.toml"))[0] == 2
    assert _main("report", str(tmp_path / "absent.sqlite"))[0] == 2


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("kind", ["empty", "foreign sqlite", "text"])
def test_report_on_a_file_that_is_not_a_journal_exits_2_and_leaves_it_alone(
    tmp_path: Path, kind: str
) -> None:
    path = tmp_path / "x.sqlite"
    if kind == "empty":
        path.write_bytes(b"")
    elif kind == "text":
        path.write_text("not a journal\n")
    else:
        with sqlite3.connect(path) as db:
            db.execute("CREATE TABLE customers (name TEXT)")
            db.execute("INSERT INTO customers VALUES ('ada')")
        db.close()
    before, listing = _digest(path), sorted(tmp_path.iterdir())
    code, _ = _main("report", str(path), "--junit", str(tmp_path / "r.xml"))
    assert code == 2
    assert _digest(path) == before
    assert sorted(tmp_path.iterdir()) == listing  # no -journal, no JUnit, nothing new
