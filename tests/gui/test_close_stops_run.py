"""Closing the window (what Ctrl-C does in ``gridbench panel``) stops the run and its Anvil."""

from __future__ import annotations

import os
import sqlite3
import time
from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings

from bench.config import load_scenario
from bench.scenario.worker import ScenarioWorker
from bench.store import JournalRecorder
from gui.panel import PanelWindow
from tests.configs import consumer, meter_block, prosumer, run_config

pytestmark = [pytest.mark.gui, pytest.mark.chain]

CONFIG = run_config(
    intervals=200,  # far more than the test waits for: the run is on when the window closes
    meters=[meter_block("roof", "fake", -8000.0), meter_block("flat", "fake", 3000.0)],
    participants=[prosumer("roof"), consumer("flat")],
)


def _anvils() -> set[int]:
    """Anvil processes whose parent is this test process."""
    found = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        parent = int(stat.rsplit(")", 1)[1].split()[1])
        state = stat.rsplit(")", 1)[1].split()[0]
        if parent == os.getpid() and b"anvil" in cmdline and state != "Z":
            found.add(int(entry))
    return found


def test_closing_the_window_stops_the_run_and_its_anvil(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bench.toml"
    path.write_text(CONFIG)
    recorder = JournalRecorder(tmp_path / "runs", name="bench")
    runner = ScenarioWorker(load_scenario(path), recorders=[recorder])
    before = _anvils()
    settings = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    window = PanelWindow(runner.events, runner, settings=settings, runs_dir=tmp_path / "runs")
    qtbot.addWidget(window)
    window.show()
    window.start_button.click()
    qtbot.waitUntil(lambda: window.intervals >= 1, timeout=60_000)
    started = _anvils() - before
    assert len(started) == 1, "the run started its own Anvil"
    window.close()  # the panel's Ctrl-C handler does exactly this
    runner.join(60)
    assert not runner.is_alive()
    deadline = time.monotonic() + 10
    while _anvils() & started and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _anvils() & started, "the run's Anvil was stopped"
    assert recorder.path is not None
    db = sqlite3.connect(recorder.path)
    ((end_state,),) = db.execute("SELECT value FROM run WHERE key = 'end_state'").fetchall()
    ((intervals,),) = db.execute("SELECT COUNT(*) FROM clearing").fetchall()
    db.close()
    assert end_state == '"stopped"' and 1 <= intervals < 200
