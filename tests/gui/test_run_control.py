"""The panel as an instrument: open a config, edit a parameter, start, pause, resume, stop;
and a queue of two runs. Real runs: emulated meters over ptys and a real Anvil."""

from __future__ import annotations

from pathlib import Path

import pytest
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication, QFileDialog

from bench.config import ScenarioConfig
from bench.events import WorkerState
from bench.scenario.worker import ScenarioWorker
from bench.store import JournalRecorder
from gui.panel import PanelWindow, Runner
from tests.configs import consumer, meter_block, prosumer, run_config

pytestmark = [pytest.mark.gui, pytest.mark.chain]

CONFIG = run_config(
    intervals=12,
    speed=1800,
    scenario={"start_hour": 11.0},
    meters=[meter_block("roof", "emulated", -9000.0), meter_block("flat", "emulated", 2500.0)],
    participants=[prosumer("roof"), consumer("flat")],
)


@pytest.fixture
def panel(qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """A panel whose runs journal into tmp_path, and the configs it started runs with."""
    path = tmp_path / "lab.toml"
    path.write_text(CONFIG)
    started: list[ScenarioConfig] = []
    workers: list[ScenarioWorker] = []

    def factory(config: ScenarioConfig) -> Runner:
        started.append(config)
        worker = ScenarioWorker(config, recorders=[JournalRecorder(tmp_path / "runs")])
        workers.append(worker)
        return worker

    settings = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    window = PanelWindow(runner_factory=factory, settings=settings)
    qtbot.addWidget(window)
    window.resize(1366, 740)  # a 1366 x 768 screen less a task bar
    window.show()
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(path), ""))
    yield window, path, started, tmp_path
    for worker in workers:
        worker.stop()
        worker.join(timeout=30)
        assert worker.error is None, worker.error


def _shot(window: PanelWindow, folder: Path, name: str) -> None:
    """A screenshot of what the user sees at this step (kept in the test's folder)."""
    QApplication.processEvents()
    assert window.grab().save(str(folder / f"{name}.png"))


def test_open_edit_start_pause_resume_stop(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    window, path, started, shots = panel
    assert not window.start_button.isEnabled()  # nothing to run yet
    window.pane.open_button.click()
    assert window.config_path == path.resolve()
    assert window.recent_files() == [str(path.resolve())]
    form = window.pane.form
    assert form.fields["scenario.intervals"].editor.text() == "12"

    # A value out of range: the schema's message under the field, Start disabled.
    form.set_value("scenario.intervals", 0)
    message = form.fields["scenario.intervals"].message
    assert not message.isHidden() and "must be in [1, 100000]" in message.text()
    assert not window.start_button.isEnabled()
    _shot(window, shots, "1-invalid-parameter")
    form.set_value("scenario.intervals", 40)
    assert message.isHidden() and window.start_button.isEnabled()

    window.start_button.click()
    qtbot.waitUntil(lambda: window.intervals >= 1, timeout=60_000)
    assert started[0].intervals == 40
    assert started[0].overrides == (("scenario.intervals", 40),)
    assert "of 40" in window.pane.progress_label.text()
    assert "left" in window.pane.progress_label.text()
    _shot(window, shots, "2-running")

    window.pause_button.click()
    qtbot.waitUntil(
        lambda: "paused after interval" in window.pane.progress_label.text(), timeout=30_000
    )
    held = window.intervals
    qtbot.wait(1500)  # three intervals' worth of real time at this speed
    assert window.intervals == held, "a paused run went on"
    assert window.pause_button.text() == "Resume"
    _shot(window, shots, "3-paused")

    window.pause_button.click()
    qtbot.waitUntil(lambda: window.intervals > held, timeout=30_000)
    window.stop_button.click()
    qtbot.waitUntil(lambda: len(window.completed_runs) == 1, timeout=60_000)
    _, summary, state = window.completed_runs[0]
    assert state is WorkerState.STOPPED
    assert summary.intervals < 40
    assert f"run stopped after {summary.intervals} of 40 intervals" in window.status_label.text()
    assert "finished" not in window.status_label.text()
    assert window.start_button.isEnabled()
    _shot(window, shots, "4-stopped")


def test_a_queue_of_two_runs_runs_one_after_another(qtbot, panel) -> None:  # type: ignore[no-untyped-def]
    window, _path, started, shots = panel
    window.pane.open_button.click()
    form = window.pane.form
    form.set_value("scenario.intervals", 2)
    first = window.add_to_queue()
    form.set_value("market.mechanism", "pay_as_bid")
    assert form.fields["participants.flat.strategy"].editor.currentText() == "fixed"
    form.set_value("participants.flat.strategy", "zip")
    second = window.add_to_queue()
    assert first is not None and second is not None
    assert window.pane.queue_list.count() == 2
    assert second.overrides == {
        "scenario.intervals": 2,
        "market.mechanism": "pay_as_bid",
        "participants.flat.strategy": "zip",
    }
    _shot(window, shots, "5-queue-of-two")

    window.start_button.click()
    qtbot.waitUntil(lambda: len(window.completed_runs) == 2, timeout=120_000)
    assert [c.market.mechanism for c in started] == ["pay_as_clear", "pay_as_bid"]
    strategies = [{p.agent.participant: p.agent.strategy for p in c.participants} for c in started]
    assert strategies == [{"roof": "fixed", "flat": "fixed"}, {"roof": "fixed", "flat": "zip"}]
    for _run, summary, state in window.completed_runs:
        assert state is WorkerState.FINISHED
        assert summary.intervals == 2
    assert [r.number for r, _, _ in window.completed_runs] == [1, 2]
    assert window.pane.queue_list.count() == 0
    assert "run finished: 2 intervals" in window.status_label.text()
    _shot(window, shots, "6-queue-done")
    assert len(started) == 2
