"""The run-control pane: the config, the buttons and progress, its parameters, the queue.

Start, Pause and Stop and the progress sit right under the config, so they are on
screen whatever the window's height; the parameters scroll (vertically only: every
field, its unit and its message fit the pane's width).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QGroupBox,
    QLabel,
    QListWidget,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from bench.config.overrides import RUN_MODES
from bench.fixtures import SCENARIO_TITLES
from gui.param_form import ParameterForm

MODE_TIPS = {
    "market": "the config's local market",
    "conventional": "no local market: everyone buys from and sells to the [grid] at its "
    "tariffs, the campus and the city as two connections (the counterfactual to compare); "
    'it runs [market] mechanism = "utility", whatever the form says',
}


@dataclass
class QueuedRun:
    """One run of the queue: the open config with these parameter overrides."""

    number: int
    overrides: dict[str, Any] = field(default_factory=dict)
    mode: str = "market"

    def label(self) -> str:
        """``#2  market.mechanism=pay_as_bid`` (``defaults`` without overrides), the mode
        in front when it is not the config's market."""
        changed = ", ".join(f"{k}={v}" for k, v in self.overrides.items()) or "file's values"
        mode = f"{self.mode}: " if self.mode != "market" else ""
        return f"#{self.number}  {mode}{changed}"


class RunPane(QWidget):
    """Left pane of the panel; the window wires its buttons."""

    def __init__(self) -> None:
        super().__init__()
        self.config_label = QLabel("no bench config: open one")
        self.config_label.setWordWrap(True)
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("open a bench config file")
        self.recent_button = QToolButton()
        self.recent_button.setText("Recent")
        self.recent_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        self.scenario_combo = QComboBox()
        self.scenario_combo.addItem("Library…", None)
        for name, title in SCENARIO_TITLES.items():
            self.scenario_combo.addItem(name, name)
            self.scenario_combo.setItemData(
                self.scenario_combo.count() - 1, title, Qt.ItemDataRole.ToolTipRole
            )
        self.scenario_combo.setToolTip("open a scenario of the bundled library")
        self.mode_combo = QComboBox()
        for mode in RUN_MODES:
            self.mode_combo.addItem(mode, mode)
            self.mode_combo.setItemData(
                self.mode_combo.count() - 1, MODE_TIPS[mode], Qt.ItemDataRole.ToolTipRole
            )
        self.mode_combo.setToolTip(
            "mode of the runs started or queued next: market or conventional (gridbench run --mode)"
        )
        self.form = ParameterForm()
        self.queue_list = QListWidget()
        self.queue_list.setMaximumHeight(80)
        self.queue_list.setMinimumHeight(44)
        self.add_button = QPushButton("Add to queue")
        self.remove_button = QPushButton("Remove")
        self.start_button = QPushButton("Start")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.stop_button = QPushButton("Stop")
        self.progress_bar = QProgressBar()
        self.progress_bar.setFormat("%v / %m")
        self.export_button = QPushButton("Export report…")
        self.export_button.setToolTip(
            "Write the HTML (or PDF) report of the last run or the run shown: the same file "
            "as gridbench report RUN --html"
        )
        self.export_button.setEnabled(False)
        self.progress_label = QLabel("idle")
        self.progress_label.setWordWrap(True)

        config_box = QGroupBox("Bench config")
        grid = QGridLayout(config_box)
        grid.addWidget(self.config_label, 0, 0, 1, 3)
        grid.addWidget(self.open_button, 1, 0)
        grid.addWidget(self.recent_button, 1, 1)
        grid.addWidget(self.scenario_combo, 1, 2)

        params = QScrollArea()
        params.setWidgetResizable(True)
        params.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        params.setWidget(self.form)
        params.setMinimumHeight(90)

        queue_box = QGroupBox("Queue (run one after another)")
        queue_layout = QGridLayout(queue_box)
        queue_layout.addWidget(self.queue_list, 0, 0, 1, 2)
        queue_layout.addWidget(self.add_button, 1, 0)
        queue_layout.addWidget(self.remove_button, 1, 1)

        run_box = QGroupBox("Run")
        run_layout = QGridLayout(run_box)
        run_layout.addWidget(self.start_button, 0, 0)
        run_layout.addWidget(self.pause_button, 0, 1)
        run_layout.addWidget(self.stop_button, 0, 2)
        run_layout.addWidget(self.progress_bar, 1, 0, 1, 3)
        run_layout.addWidget(self.progress_label, 2, 0, 1, 3)
        run_layout.addWidget(self.mode_combo, 3, 0)
        run_layout.addWidget(self.export_button, 3, 1, 1, 2)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(config_box)
        layout.addWidget(run_box)
        layout.addWidget(params, 1)
        layout.addWidget(queue_box)
        self.setMinimumWidth(260)
