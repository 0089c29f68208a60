"""The panel starts a library scenario in market or conventional mode, as
``gridbench run --scenario NAME --mode MODE`` does: the config each run is started with
is compared with the CLI's own (the oracle), field by field that matters."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import pytest
from PyQt6.QtCore import QSettings

from bench.cli.run import config_from_args
from bench.config import ScenarioConfig
from gui.panel import PanelWindow, Runner

pytestmark = [pytest.mark.gui]


class _Idle:
    """A runner that never runs: the test looks at the config it was made with."""

    def __init__(self, config: ScenarioConfig) -> None:
        import queue

        self.config = config
        self.events: queue.Queue[Any] = queue.Queue()

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_relay(self, meter_id: str, closed: bool) -> None: ...

    def is_alive(self) -> bool:
        return False


def _cli(mode: str) -> ScenarioConfig:
    args = argparse.Namespace(
        scenario="vacation-week", mode=mode, config=None, intervals=None, speed=None,
        chain_url=None, from_run=None,
    )  # fmt: skip
    return config_from_args(args)


@pytest.mark.parametrize("mode", ["conventional", "market"])
def test_a_library_scenario_starts_in_the_chosen_mode(qtbot, tmp_path: Path, mode: str) -> None:  # type: ignore[no-untyped-def]
    started: list[ScenarioConfig] = []

    def factory(config: ScenarioConfig) -> Runner:
        started.append(config)
        return _Idle(config)

    settings = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    window = PanelWindow(runner_factory=factory, settings=settings, runs_dir=tmp_path)
    qtbot.addWidget(window)
    window.resize(1366, 740)
    window.show()
    combo = window.pane.scenario_combo
    combo.activated.emit(combo.findData("vacation-week"))  # as a click on the item does
    assert window.config_path is not None and window.config_path.name == "vacation-week.toml"
    window.set_mode(mode)
    assert window.pane.mode_combo.currentText() == mode
    window.start_button.click()
    (config,) = started
    want = _cli(mode)
    assert config.market.mechanism == want.market.mechanism
    assert config.market.mechanism == ("utility" if mode == "conventional" else "pay_as_clear")
    assert dict(config.overrides) == dict(want.overrides)
    assert config.source_text == want.source_text
    assert window.completed_runs == [] and window.pane.queue_list.count() == 0
    window.grab().save(str(tmp_path / f"panel-{mode}.png"))
