"""Reproducible runs: the journal keeps the config text, overrides and software, and
``gridbench run --from RUN_DIR`` reruns a past run (from the journal, not the file)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bench.store import Journal
from tests.configs import consumer, meter_block, prosumer, run_config

pytestmark = pytest.mark.chain

CONFIG = run_config(
    intervals=6,
    bench={"seed": 7},
    scenario={"start_hour": 10.0},
    meters=[
        meter_block("roof", "fake", -7003.0),
        meter_block("flat", "fake", 2602.0),
        meter_block("shop", "fake", 3303.0),
    ],
    participants=[prosumer("roof"), consumer("flat", 300), consumer("shop", 240)],
)


def _run(args: list[str], cwd: Path) -> dict[str, object]:
    proc = subprocess.run(
        [sys.executable, "-m", "gridbench", "run", "--json", "--quiet", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stderr == ""  # --quiet and not a terminal: no bar, no notes
    return json.loads(proc.stdout)  # type: ignore[no-any-return]


def test_rerun_from_a_run_folder_settles_the_same_totals(tmp_path: Path) -> None:
    config = tmp_path / "campus-lab.toml"
    config.write_text(CONFIG)
    first = _run(["--config", str(config), "--intervals", "3", "--journal", "runs"], tmp_path)
    run_dir = tmp_path / Path(str(first["journal_path"])).parent
    assert run_dir.name.endswith("-campus-lab"), run_dir.name

    journal = Journal(run_dir / "journal.sqlite")
    try:
        assert journal.meta("config_text") == CONFIG
        assert journal.meta("overrides") == {"scenario.intervals": 3}
        assert journal.meta("gridbench_version")
        assert len(str(journal.meta("git_revision"))) in (0, 40)
        assert len(str(journal.meta("contracts_sha256"))) == 64
        assert len(str(journal.meta("firmware_sha256"))) in (0, 64)
    finally:
        journal.close()

    config.write_text(CONFIG.replace("-7003.0", "-1000.0"))  # the file changed since
    again = _run(["--from", str(run_dir), "--journal", "runs"], tmp_path)
    assert again["journal_path"] != first["journal_path"]
    assert first["trades_settled"] > 0
    assert again["intervals"] == first["intervals"] == 3
    assert again["trades_settled"] == first["trades_settled"]
    # Exact: the fakes are cut on the instant their energy was counted, so the host's
    # latency moves no Wh between intervals (it moved 2-3 Wh of 4,400 when cut by arrival).
    # The powers make no interval's energy a whole Wh: one that is (2600 W for 900 s is
    # 650 Wh) floors to either side on the last bit of a float, in any run.
    assert again["energy_traded_wh"] == first["energy_traded_wh"]
    assert again["value_settled_wei"] == first["value_settled_wei"]
    # The edited file was not used: its roof exports 1 kW, which trades far less energy.
    assert float(str(again["energy_traded_wh"])) > 3000
