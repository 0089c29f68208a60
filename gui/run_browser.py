"""The run browser: every run under the runs folder, shown, compared or exported.

Each row is one run folder (``<time>-<config name>/journal.sqlite``): its name, config,
effective parameters, start, wall duration, verdict and key figures, all from the
journal, replayed read-only (no chain needed). The window shows the selected run in its
usual views; Compare opens two selected runs side by side.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

from PyQt6.QtCore import Qt, pyqtSignal
from PyQt6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from bench.config.overrides import FAULTS_PATH, parameter_values
from bench.errors import BenchError
from bench.report.run_data import RunData, load_run
from gui.run_replay import replay_events
from gui.run_views import RunViews
from pricing.units import labc

HEADERS = (
    "run",
    "verdict",
    "config",
    "parameters",
    "started (UTC)",
    "duration",
    "intervals",
    "energy (Wh)",
    "value (LABC)",
)


HEADLINE = ("scenario.intervals", "scenario.speed", "market.mechanism")
"""Parameters the list always shows; the others only where the run changed them."""


@cache
def _paths() -> tuple[str, ...]:
    return tuple(parameter_values({}))


def _short(path: str) -> str:
    """``intervals`` for ``scenario.intervals`` when no other table has that key."""
    key = path.partition(".")[2]
    same = [p for p in _paths() if p.partition(".")[2] == key]
    return key if len(same) == 1 and not path.startswith(FAULTS_PATH) else path


def parameters_text(data: RunData) -> str:
    """The run's effective parameters in one line: the headline ones always, then every
    one the config file or an override set; ``*`` marks an override
    (``intervals=12, speed=1800, mechanism=pay_as_clear, *faults.drop_rate=0.1``)."""
    if not data.parameters:
        return "-"
    shown = [p for p in data.parameters if p in HEADLINE or p in data.parameters_given]
    marked = [f"{'*' if p in data.overrides else ''}{_short(p)}" for p in shown]
    texts = [f"{m}={_text(data.parameters[p])}" for m, p in zip(marked, shown, strict=True)]
    wiring = [f"*{p}={_text(v)}" for p, v in data.overrides.items() if p not in data.parameters]
    return ", ".join([*texts, *wiring])


def _text(value: object) -> str:
    """``1800`` for 1800.0 (as the file would say it), anything else as it is."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def parameters_tooltip(data: RunData) -> str:
    """Every effective parameter, one a line, with where its value came from."""

    def source(path: str) -> str:
        if path in data.overrides:
            return "override"
        return "config file" if path in data.parameters_given else "default"

    return "\n".join(f"{p} = {_text(v)}  ({source(p)})" for p, v in data.parameters.items())


def run_folders(runs_dir: Path) -> list[Path]:
    """Run folders holding a journal, newest first."""
    if not runs_dir.is_dir():
        return []
    return sorted((p.parent for p in runs_dir.glob("*/journal.sqlite")), reverse=True)


def _row(data: RunData) -> tuple[str, ...]:
    planned = data.planned_intervals
    return (
        data.name,
        data.verdict,
        data.config_name,
        parameters_text(data),
        data.started.strftime("%Y-%m-%d %H:%M:%S") if data.started else "-",
        "-" if data.wall_duration_s is None else f"{data.wall_duration_s:.0f} s",
        f"{len(data.intervals)}/{planned if planned is not None else '?'}",
        str(data.energy_traded_wh),
        labc(data.value_settled_wei),
    )


class RunBrowser(QWidget):
    """The list of past runs. ``sigShow(RunData)``: show one; ``sigCompare(a, b)``."""

    sigShow = pyqtSignal(object)
    sigCompare = pyqtSignal(object, object)

    def __init__(self, runs_dir: Path) -> None:
        super().__init__()
        self.runs_dir = runs_dir
        self.runs: list[RunData] = []
        self.errors: dict[Path, str] = {}
        self._cache: dict[Path, tuple[float, RunData]] = {}
        """Runs read before, by folder, with the journal's mtime then (reread if changed)."""
        self.table = QTableWidget(0, len(HEADERS))
        self.table.setHorizontalHeaderLabels(HEADERS)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.table.setWordWrap(False)
        vertical = self.table.verticalHeader()
        assert vertical is not None
        vertical.setVisible(False)
        self.folder_label = QLabel()
        self.folder_label.setWordWrap(True)
        self.refresh_button = QPushButton("Refresh")
        self.show_button = QPushButton("Show")
        self.compare_button = QPushButton("Compare two")
        self.refresh_button.clicked.connect(self.refresh)
        self.show_button.clicked.connect(self._show)
        self.compare_button.clicked.connect(self._compare)
        self.table.itemSelectionChanged.connect(self._selection_changed)
        self.table.cellDoubleClicked.connect(lambda *_: self._show())
        buttons = QHBoxLayout()
        for button in (self.refresh_button, self.show_button, self.compare_button):
            buttons.addWidget(button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(4, 4, 4, 4)
        layout.addWidget(self.folder_label)
        layout.addWidget(self.table, 1)
        layout.addLayout(buttons)
        self._selection_changed()

    def refresh(self) -> None:
        """List every run under the runs folder (a journal is replayed again only when it
        changed; one that cannot be read is counted, with why in ``errors``)."""
        self.runs.clear()
        self.errors.clear()
        self.table.setRowCount(0)
        for folder in run_folders(self.runs_dir):
            try:
                data = self._load(folder)
            except BenchError as exc:
                self.errors[folder] = str(exc)
                continue
            self.runs.append(data)
            row = self.table.rowCount()
            self.table.insertRow(row)
            for col, text in enumerate(_row(data)):
                item = QTableWidgetItem(text)
                item.setToolTip(
                    parameters_tooltip(data) if col == HEADERS.index("parameters") else text
                )
                if col == HEADERS.index("verdict"):
                    item.setForeground(
                        Qt.GlobalColor.darkGreen if data.report.clean else Qt.GlobalColor.red
                    )
                self.table.setItem(row, col, item)
        self.table.resizeColumnsToContents()
        unreadable = f"; {len(self.errors)} unreadable" if self.errors else ""
        self.folder_label.setText(f"{len(self.runs)} runs in {self.runs_dir}{unreadable}")
        self._selection_changed()

    def _load(self, folder: Path) -> RunData:
        """The run in ``folder``, replayed once per version of its journal."""
        mtime = (folder / "journal.sqlite").stat().st_mtime
        cached = self._cache.get(folder)
        if cached is None or cached[0] != mtime:
            cached = (mtime, load_run(folder))
            self._cache[folder] = cached
        return cached[1]

    def selected(self) -> list[RunData]:
        """The selected runs, in list order."""
        model = self.table.selectionModel()
        rows = sorted({i.row() for i in model.selectedRows()}) if model else []
        return [self.runs[r] for r in rows]

    def select(self, *rows: int) -> None:
        """Select these rows (the list is newest first)."""
        self.table.clearSelection()
        model = self.table.selectionModel()
        assert model is not None
        for r in rows:
            index = self.table.model().index(r, 0)  # type: ignore[union-attr]
            model.select(index, model.SelectionFlag.Select | model.SelectionFlag.Rows)

    def _selection_changed(self) -> None:
        n = len(self.selected())
        self.show_button.setEnabled(n == 1)
        self.compare_button.setEnabled(n == 2)

    def _show(self) -> None:
        chosen = self.selected()
        if len(chosen) == 1:
            self.sigShow.emit(chosen[0])

    def _compare(self) -> None:
        chosen = self.selected()
        if len(chosen) == 2:
            self.sigCompare.emit(chosen[0], chosen[1])


class ComparisonWindow(QWidget):
    """Two runs side by side, each in its own views with its verdict above."""

    def __init__(self, left: RunData, right: RunData) -> None:
        super().__init__()
        self.setWindowTitle(f"gridbench — {left.name} vs {right.name}")
        self.views: list[RunViews] = []
        split = QSplitter(Qt.Orientation.Horizontal)
        for data in (left, right):
            side = QWidget()
            layout = QVBoxLayout(side)
            layout.setContentsMargins(2, 2, 2, 2)
            title = QLabel(
                f"<b>{data.name}</b> — {data.config_name}<br>{data.verdict}<br>"
                f"{data.trades_settled} trades, {data.energy_traded_wh} Wh, "
                f"{labc(data.value_settled_wei)} LABC"
            )
            title.setWordWrap(True)
            views = RunViews()
            views.show_events(replay_events(data))
            layout.addWidget(title)
            layout.addWidget(views, 1)
            split.addWidget(side)
            self.views.append(views)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self.resize(1340, 700)
