"""The panel driving a real run: emulated meters over ptys, a real Anvil, a real relay."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtGui import QImage

from bench.config import load_scenario
from bench.scenario.worker import ScenarioWorker
from gui.panel import PanelWindow
from tests.configs import consumer, meter_block, prosumer, run_config

pytestmark = [pytest.mark.gui, pytest.mark.chain]

CONFIG = run_config(
    intervals=12,
    speed=1800,
    scenario={"start_hour": 11.0},
    meters=[
        meter_block("roof", "emulated", -9000.0),
        meter_block("flat", "emulated", 2500.0),
        meter_block("shop", "emulated", 4000.0),
    ],
    participants=[prosumer("roof"), consumer("flat"), consumer("shop")],
)


def test_panel_runs_a_scenario_and_opens_a_relay(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "bench.toml"
    path.write_text(CONFIG)
    runner = ScenarioWorker(load_scenario(path))
    window = PanelWindow(runner.events, runner)
    qtbot.addWidget(window)
    window.show()
    window.start_button.click()
    try:
        table = window.meters_table
        qtbot.waitUntil(lambda: table.rowCount() == 3, timeout=30_000)
        qtbot.waitUntil(lambda: window.intervals >= 2, timeout=30_000)
        # The lab engineer puts the flat's meter in maintenance mode (a manual switch
        # needs it) and opens its supply point from the panel.
        runner.set_maintenance("flat", True)
        table.relay_button("flat").click()
        row = [table.item(r, 0).text() for r in range(3)].index("flat")
        qtbot.waitUntil(lambda: table.item(row, 5).text() == "OPEN", timeout=10_000)
        # (later status lines may already have replaced it in the status bar)
        assert any("relay opened" in line for line in window.status_history)
        qtbot.waitUntil(lambda: window.trades_settled > 0, timeout=30_000)
        shot = tmp_path / "live.png"
        assert window.grab().save(str(shot))
        assert not QImage(str(shot)).isNull()
    finally:
        runner.stop()
        runner.join(timeout=30)
    assert runner.error is None
