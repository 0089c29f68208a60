"""The control panel's main window: run control, live meters, market curves, prices, trades.

The left pane opens a bench config, edits its parameters, queues runs and starts,
pauses and stops them; the right side shows the current run. Bench work runs in each
run's worker thread; the window only follows its events.
"""

from __future__ import annotations

import queue
import tomllib
from collections import deque
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

from PyQt6.QtCore import QByteArray, QSettings, Qt, QTimer
from PyQt6.QtGui import QAction, QCloseEvent
from PyQt6.QtWidgets import (
    QFileDialog,
    QLabel,
    QMainWindow,
    QMenu,
    QMessageBox,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QTabWidget,
)

from bench.config import ScenarioConfig, load_with_overrides
from bench.config.overrides import mode_overrides
from bench.errors import BenchError, ConfigError
from bench.events import (
    BenchEvent,
    IntervalReport,
    RunSummary,
    StatusEvent,
    WorkerState,
    WorkerStatus,
)
from bench.fixtures import scenario_config
from bench.report.run_data import RunData, load_run, verdict_text
from bench.scenario.progress import Progress, duration_text
from gui.bridge import EventBridge
from gui.commission_dialog import CommissionDialog
from gui.kpi_tab import KpiTab
from gui.run_browser import ComparisonWindow, RunBrowser
from gui.run_pane import QueuedRun, RunPane
from gui.run_replay import replay_events
from gui.run_views import RunViews
from gui.widgets.balance_plot import BalancePlot
from gui.widgets.market_plot import MarketPlot
from gui.widgets.meters_table import MetersTable
from gui.widgets.power_plot import PowerPlot
from gui.widgets.price_plot import PricePlot
from gui.widgets.trades_table import TradesTable
from pricing.units import labc

MAX_RECENT = 8


class Runner(Protocol):
    """What the panel drives: a scenario running in its own worker thread."""

    events: queue.Queue[BenchEvent]

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_relay(self, meter_id: str, closed: bool) -> None: ...


RunnerFactory = Callable[[ScenarioConfig], Runner]


def default_runner_factory(runs_dir: Path) -> RunnerFactory:
    """Workers that journal into ``runs_dir`` (imported here: the panel's tests run without)."""
    from bench.scenario.worker import ScenarioWorker
    from bench.store import recorder_for

    def make(config: ScenarioConfig) -> Runner:
        return ScenarioWorker(config, recorders=[recorder_for(config, runs_dir)])

    return make


class PanelWindow(QMainWindow):
    """Main window. It never blocks: bench work runs in the runner's thread.

    ``events`` and ``runner`` attach one run made elsewhere; ``runner_factory`` makes a
    runner for each run the pane starts from the open config.
    """

    def __init__(
        self,
        events: queue.Queue[BenchEvent] | None = None,
        runner: Runner | None = None,
        *,
        runner_factory: RunnerFactory | None = None,
        settings: QSettings | None = None,
        runs_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.setWindowTitle("gridbench — microgrid trading panel")
        self.settings = settings if settings is not None else QSettings("gridbench", "panel")
        self._runner = runner
        self._runner_factory = runner_factory
        self.config_path: Path | None = None
        self.queued: list[QueuedRun] = []
        self._next_number = 1
        self.final_state: WorkerState | None = None
        self.last_error: str | None = None
        self.last_verdict: str | None = None
        self.status_history: deque[str] = deque(maxlen=500)
        """The latest status lines, oldest first (the status bar shows the last)."""
        self.progress: Progress | None = None
        self.completed_runs: list[tuple[QueuedRun | None, RunSummary, WorkerState | None]] = []
        self._current: QueuedRun | None = None
        self.report_journal: Path | None = None
        """The journal "Export report" writes a report of (the last run, or one shown)."""
        self.comparisons: list[ComparisonWindow] = []
        self._reset_totals()

        self.pane = RunPane()
        self.views = RunViews()
        self.status_label = QLabel("idle")
        # a long verdict is elided by the window, never pushes the totals off screen
        self.status_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.totals_label = QLabel(self._totals_text())
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.recent_menu = QMenu(self)
        self.pane.recent_button.setMenu(self.recent_menu)
        self.recent_menu.triggered.connect(self._open_recent)
        self._wire_pane()

        # the pane is not scrolled as a whole (only its parameters are): the buttons, the
        # progress and the queue stay in view at any window height the pane fits in
        self.pane.setMinimumWidth(280)
        self.browser = RunBrowser(runs_dir if runs_dir is not None else Path("runs"))
        self.browser.sigShow.connect(self.show_run)
        self.browser.sigCompare.connect(self.compare_runs)
        self.side_tabs = QTabWidget()
        self.side_tabs.addTab(self.pane, "Run control")
        self.side_tabs.addTab(self.browser, "Runs")
        self.kpi_tab = KpiTab()
        self.side_tabs.addTab(self.kpi_tab, "KPIs")
        self.browser.sigShow.connect(self.kpi_tab.on_shown)
        self.side_tabs.currentChanged.connect(self._side_tab_changed)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.addWidget(self.side_tabs)
        self.splitter.addWidget(self.views)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([330, 1030])
        self.setCentralWidget(self.splitter)
        status_bar = self.statusBar()
        assert status_bar is not None
        status_bar.addWidget(self.status_label, 1)
        status_bar.addPermanentWidget(self.totals_label)
        self.commission_dialog: CommissionDialog | None = None
        menu_bar = self.menuBar()
        assert menu_bar is not None
        meters_menu = menu_bar.addMenu("&Meters")
        assert meters_menu is not None
        self.commission_action = QAction("Commission a meter…", self)
        self.commission_action.triggered.connect(self.open_commissioning)
        meters_menu.addAction(self.commission_action)
        self._restore_geometry()

        self.bridge = EventBridge(events if events is not None else queue.Queue(), parent=self)
        self.bridge.sigMeterSample.connect(self._on_sample)
        self.bridge.sigMeterLink.connect(self._on_link)
        self.bridge.sigSession.connect(self._on_session)
        self.bridge.sigRelay.connect(self._on_relay)
        self.bridge.sigMeterAttested.connect(self.meters_table.set_attestation)
        self.bridge.sigWorker.connect(self.on_worker)
        self.bridge.sigInterval.connect(self.on_interval)
        self.bridge.sigStatus.connect(self.on_status)
        self.bridge.sigSummary.connect(self.on_summary)
        self.bridge.sigSummary.connect(self.kpi_tab.on_summary)
        self.bridge.start()
        self.views.meters_table.sigRelayRequested.connect(self._relay)
        self._redraw = QTimer(self)
        self._redraw.setInterval(100)
        self._redraw.timeout.connect(self._refresh_power)
        self._redraw.start()
        self._set_idle_buttons()
        self._refresh_recent()

    def open_commissioning(self) -> CommissionDialog:
        """The meter commissioning dialog (info, provision, calibrate), one per panel."""
        if self.commission_dialog is None:
            self.commission_dialog = CommissionDialog(self)
        self.commission_dialog.show()
        self.commission_dialog.raise_()
        return self.commission_dialog

    # -- the views of the current run ------------------------------------------------------
    @property
    def power_plot(self) -> PowerPlot:
        return self.views.power_plot

    @property
    def market_plot(self) -> MarketPlot:
        return self.views.market_plot

    @property
    def price_plot(self) -> PricePlot:
        return self.views.price_plot

    @property
    def balance_plot(self) -> BalancePlot:
        return self.views.balance_plot

    @property
    def trades_table(self) -> TradesTable:
        return self.views.trades_table

    @property
    def meters_table(self) -> MetersTable:
        return self.views.meters_table

    @property
    def left_tabs(self) -> QTabWidget:
        return self.views.left_tabs

    @property
    def right_tabs(self) -> QTabWidget:
        return self.views.right_tabs

    @property
    def start_button(self) -> QPushButton:
        return self.pane.start_button

    @property
    def stop_button(self) -> QPushButton:
        return self.pane.stop_button

    @property
    def pause_button(self) -> QPushButton:
        return self.pane.pause_button

    def current_runner(self) -> Runner | None:
        """The run in progress or last run."""
        return self._runner

    def _new_views(self) -> None:
        sizes = {name: s.sizes() for name, s in self.views.splitters().items()}
        views = RunViews()
        for name, splitter in views.splitters().items():
            splitter.setSizes(sizes[name])
        self.splitter.replaceWidget(1, views)
        self.views.deleteLater()
        self.views = views
        views.meters_table.sigRelayRequested.connect(self._relay)

    # -- wiring --------------------------------------------------------------------------
    def _wire_pane(self) -> None:
        pane = self.pane
        pane.open_button.clicked.connect(self.choose_config)
        pane.scenario_combo.activated.connect(self._open_scenario)
        pane.add_button.clicked.connect(self.add_to_queue)
        pane.remove_button.clicked.connect(self._remove_queued)
        pane.start_button.clicked.connect(self._start)
        pane.stop_button.clicked.connect(self._stop)
        pane.pause_button.toggled.connect(self._pause)
        pane.export_button.clicked.connect(self.choose_report_file)
        pane.form.sigValidity.connect(self._form_validity)

    def _set_idle_buttons(self) -> None:
        can_start = self._runner is not None or (
            self.config_path is not None and self.pane.form.validate()
        )
        self.pane.start_button.setEnabled(can_start)
        self.pane.add_button.setEnabled(self.config_path is not None)
        self.pane.stop_button.setEnabled(False)
        self.pane.pause_button.setEnabled(False)
        self.pane.open_button.setEnabled(True)

    def _running(self) -> bool:
        return self.pane.stop_button.isEnabled()

    def _form_validity(self, valid: bool) -> None:
        if not self._running():
            self.pane.start_button.setEnabled(valid and self.config_path is not None)
            self.pane.add_button.setEnabled(valid and self.config_path is not None)

    # -- config --------------------------------------------------------------------------
    def choose_config(self) -> None:
        """Ask for a bench config file and open it."""
        start = str(self.config_path.parent) if self.config_path else ""
        name, _ = QFileDialog.getOpenFileName(
            self, "Open bench config", start, "Bench config (*.toml);;All files (*)"
        )
        if name:
            self.open_config(Path(name))

    def open_config(self, path: Path) -> bool:
        """Load ``path`` into the form (checked whole first); False, with a dialog, if bad."""
        try:
            load_with_overrides(path)
            document = tomllib.loads(path.read_text())
        except (ConfigError, OSError, tomllib.TOMLDecodeError) as exc:
            self.show_error(f"Cannot open {path}", str(exc), "Fix the file, then open it again.")
            return False
        self.config_path = path.resolve()
        self.pane.config_label.setText(str(self.config_path))
        self.pane.config_label.setToolTip(str(self.config_path))
        self.pane.form.load(document)
        self._remember(self.config_path)
        self._runner = None if self._runner_factory else self._runner
        if not self._running():
            self._set_idle_buttons()
        self.status_label.setText(f"config {path.name} opened: edit, queue or start")
        return True

    def open_scenario(self, name: str) -> bool:
        """Open the library scenario ``name`` (``gridbench run --scenario NAME``)."""
        try:
            path = scenario_config(name)
        except ConfigError as exc:
            self.show_error("No such scenario", str(exc), "Pick one of the library's.")
            return False
        return self.open_config(path)

    def _open_scenario(self, index: int) -> None:
        name = self.pane.scenario_combo.itemData(index)
        self.pane.scenario_combo.setCurrentIndex(0)
        if name:
            self.open_scenario(str(name))

    def set_mode(self, mode: str) -> None:
        """Run the next started or queued runs in ``mode`` (market or conventional)."""
        self.pane.mode_combo.setCurrentIndex(self.pane.mode_combo.findData(mode))

    def _remember(self, path: Path) -> None:
        recent = [str(path)] + [p for p in self.recent_files() if p != str(path)]
        self.settings.setValue("recent_files", recent[:MAX_RECENT])
        self._refresh_recent()

    def recent_files(self) -> list[str]:
        """Recently opened configs, newest first (kept in QSettings)."""
        value = self.settings.value("recent_files", [])
        if isinstance(value, str):
            return [value]
        return [str(v) for v in value or []]

    def _open_recent(self, action: QAction) -> None:
        self.open_config(Path(str(action.data())))

    def _refresh_recent(self) -> None:
        self.recent_menu.clear()
        for name in self.recent_files():
            action = QAction(name, self.recent_menu)
            action.setData(name)
            self.recent_menu.addAction(action)
        self.pane.recent_button.setEnabled(bool(self.recent_files()))

    # -- queue ---------------------------------------------------------------------------
    def add_to_queue(self) -> QueuedRun | None:
        """Queue the open config with the form's parameters."""
        try:
            overrides = self.pane.form.overrides()
        except ConfigError as exc:
            self.show_error("A parameter is not valid", str(exc), "Correct the marked field.")
            return None
        mode = str(self.pane.mode_combo.currentData())
        run = QueuedRun(self._next_number, {**overrides, **mode_overrides(mode)}, mode)
        self._next_number += 1
        self.queued.append(run)
        self.pane.queue_list.addItem(run.label())
        return run

    def _remove_queued(self) -> None:
        row = self.pane.queue_list.currentRow()
        if 0 <= row < len(self.queued):
            self.queued.pop(row)
            self.pane.queue_list.takeItem(row)

    # -- run control ---------------------------------------------------------------------
    def _start(self) -> None:
        if self._runner_factory is None or self.config_path is None:
            if self._runner is not None:  # a run made elsewhere, attached at creation
                self._begin(self._runner, getattr(self._runner, "config", None))
            return
        if not self.queued and self.add_to_queue() is None:
            return
        self._next_run()

    def _next_run(self) -> None:
        if not self.queued or self._runner_factory is None or self.config_path is None:
            self._set_idle_buttons()
            return
        run = self.queued.pop(0)
        self.pane.queue_list.takeItem(0)
        try:
            config = load_with_overrides(self.config_path, run.overrides)
            runner = self._runner_factory(config)
        except BenchError as exc:
            self.show_error("The run cannot start", str(exc), "Fix the config or parameters.")
            self._set_idle_buttons()
            return
        self._current = run
        self._new_views()
        self._reset_totals()
        self.totals_label.setText(self._totals_text())
        self.bridge.set_queue(runner.events)
        self._runner = runner
        self._begin(runner, config)

    def _begin(self, runner: Runner, config: ScenarioConfig | None) -> None:
        self.final_state = None
        if config is not None:
            self.progress = Progress(config.intervals, config.market_interval_s / config.speed)
            self.pane.progress_bar.setRange(0, config.intervals)
            self.pane.progress_bar.setValue(0)
            self.pane.progress_label.setText(f"starting: {config.intervals} intervals")
        runner.start()
        self.pane.start_button.setEnabled(False)
        self.pane.open_button.setEnabled(False)
        self.pane.stop_button.setEnabled(True)
        self.pane.pause_button.setEnabled(True)

    def _stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
            self.pane.stop_button.setEnabled(False)
            self.pane.pause_button.setEnabled(False)
            self.pane.progress_label.setText("stopping after the interval in progress")

    def _pause(self, paused: bool) -> None:
        if self._runner is None:
            return
        if paused:
            self._runner.pause()
            self.pane.progress_label.setText("pausing after the interval in progress")
        else:
            self._runner.resume()
        self.pane.pause_button.setText("Resume" if paused else "Pause")

    def _relay(self, meter_id: str, closed: bool) -> None:
        if self._runner is None:
            self.status_label.setText("no run: the relay cannot be switched")
            return
        self._runner.set_relay(meter_id, closed)

    # -- events --------------------------------------------------------------------------
    def _reset_totals(self) -> None:
        self.intervals = 0
        self.trades_settled = 0
        self.value_settled_wei = 0
        self.energy_traded_wh = 0

    def _totals_text(self) -> str:
        return (
            f"intervals {self.intervals}   trades settled {self.trades_settled}   "
            f"energy {self.energy_traded_wh} Wh   value {labc(self.value_settled_wei)} LABC"
        )

    def _refresh_power(self) -> None:
        self.power_plot.refresh()

    def _on_link(self, event: Any) -> None:
        self.meters_table.set_link(event)

    def _on_session(self, event: Any) -> None:
        self.meters_table.set_session(event)

    def _on_relay(self, event: Any) -> None:
        self.meters_table.set_relay_outcome(event)

    def _on_sample(self, sample: Any) -> None:
        self.power_plot.add_sample(sample)
        self.meters_table.add_sample(sample)

    def on_interval(self, report: IntervalReport) -> None:
        """Show one market interval everywhere it belongs."""
        settlement = report.settlement
        self.intervals += 1
        self.trades_settled += len(settlement.settled_trades)
        self.value_settled_wei += settlement.value_settled_wei
        self.energy_traded_wh += settlement.energy_settled_wh
        self.views.add_interval(report)
        self.totals_label.setText(self._totals_text())
        if self.progress is not None:
            self.progress.interval_done(report.interval_id)
            self.pane.progress_bar.setValue(report.interval_id)
            self.pane.progress_label.setText(self.progress.text())
        if report.findings:
            self.status_label.setText(f"audit: {report.findings[0]}")

    def on_status(self, status: StatusEvent) -> None:
        """Show a status line from the bench."""
        line = f"[{status.level}] {status.message}"
        self.status_history.append(line)
        self.status_label.setText(line)

    def on_worker(self, status: WorkerStatus) -> None:
        """Follow the worker's state: pausable while it runs, nothing to stop once ended."""
        progress = self.progress
        if status.state is WorkerState.RUNNING:
            self.pane.pause_button.setEnabled(self._running())
            if progress is not None:
                if progress.done == 0 and not self.pane.pause_button.isChecked():
                    progress.start()
                progress.resume()
        elif status.state is WorkerState.PAUSED:
            if progress is not None:
                progress.pause()
            self.pane.progress_label.setText(
                f"paused after interval {progress.done if progress else '?'}: Resume to go on"
            )
        if status.state in (WorkerState.FINISHED, WorkerState.STOPPED, WorkerState.FAILED):
            self.final_state = status.state
            self.pane.stop_button.setEnabled(False)
            self.pane.pause_button.setEnabled(False)
            self.pane.pause_button.setChecked(False)
        if status.state is WorkerState.FAILED:
            self.show_error(
                "The run failed",
                status.detail or "the run stopped with an unknown error",
                "Do what the message says (fix the config, start the missing tool or meter), "
                "then Start again. What ran until the failure is in its journal: see the "
                "Runs tab.",
            )
            self._set_idle_buttons()

    def on_summary(self, summary: RunSummary) -> None:
        """Show the run's end: the verdict first (the audit's findings), then stopped or
        finished and the totals."""
        stopped = self.final_state is WorkerState.STOPPED
        self.completed_runs.append((self._current, summary, self.final_state))
        total = self.progress.total if self.progress else summary.intervals
        ended = (
            f"run stopped after {summary.intervals} of {total} intervals"
            if stopped
            else f"run finished: {summary.intervals} intervals"
        )
        conserved = "conserved" if summary.escrow_conserved else "NOT conserved"
        self.last_verdict = run_verdict(summary, self.final_state)
        how = "" if ended in self.last_verdict else f"{ended}, "  # said once, not twice
        self.status_label.setText(
            f"{self.last_verdict} — {how}{summary.trades_settled} trades, escrow "
            f"{conserved}, chain {summary.chain_url}"
        )
        self.status_label.setToolTip(self.last_verdict)
        if summary.journal_path:
            self.report_journal = Path(summary.journal_path)
            self.pane.export_button.setEnabled(True)
        if self.side_tabs.currentWidget() is self.browser:
            self.browser.refresh()
        if self.progress is not None:
            took = duration_text(self.progress.seconds_per_interval() * summary.intervals)
            self.pane.progress_label.setText(f"{ended} (about {took})")
        self.pane.stop_button.setEnabled(False)
        self.pane.pause_button.setEnabled(False)
        if self._runner_factory is not None and self.queued and not stopped:
            QTimer.singleShot(0, self._next_run)
        else:
            self._set_idle_buttons()
            if self._runner_factory is None:
                self.pane.start_button.setEnabled(False)

    # -- past runs -------------------------------------------------------------------------
    def _side_tab_changed(self, index: int) -> None:
        if self.side_tabs.widget(index) is self.browser:
            self.browser.refresh()

    def show_run(self, data: RunData) -> bool:
        """Replay a past run's journal into the views (not while a run is in progress)."""
        if self._running():
            self.show_error(
                "A run is in progress",
                f"{data.name} cannot be shown while a run is drawing in these views.",
                "Stop the run first, or use Compare two to open runs in their own window.",
            )
            return False
        self._new_views()
        drawn = self.views.show_events(replay_events(data))
        self._reset_totals()
        self.intervals = drawn
        self.trades_settled = data.trades_settled
        self.value_settled_wei = data.value_settled_wei
        self.energy_traded_wh = data.energy_traded_wh
        self.totals_label.setText(self._totals_text())
        self.report_journal = data.journal
        self.pane.export_button.setEnabled(True)
        self.status_label.setText(f"{data.verdict} — showing {data.name} (replayed journal)")
        return True

    def compare_runs(self, left: RunData, right: RunData) -> ComparisonWindow:
        """Open two runs side by side in a window of their own."""
        window = ComparisonWindow(left, right)
        self.comparisons.append(window)
        window.show()
        return window

    def choose_report_file(self) -> None:
        """Ask where to write the report of the last (or shown) run, HTML or PDF."""
        if self.report_journal is None:
            return
        default = str(self.report_journal.parent / "report.html")
        name, _ = QFileDialog.getSaveFileName(
            self, "Export report", default, "HTML report (*.html);;PDF report (*.pdf)"
        )
        if name:
            self.export_report(Path(name))

    def export_report(self, out: Path) -> Path | None:
        """Write the report ``gridbench report --html`` (``--pdf`` for a .pdf) writes."""
        if self.report_journal is None:
            return None
        try:
            data = load_run(self.report_journal)
            if out.suffix.lower() == ".pdf":
                from bench.report.html_pdf import write_pdf

                written = write_pdf(data, out)
            else:
                from bench.report.html import write_html

                written = write_html(data, out)
        except (BenchError, OSError) as exc:
            self.show_error(
                "The report cannot be written", str(exc), "Choose another file or folder."
            )
            return None
        self.status_label.setText(f"report written: {written}")
        return written

    def show_error(self, title: str, message: str, what_to_do: str) -> None:
        """A dialog that says what happened and what to do (not modal: the run goes on)."""
        self.last_error = f"{message} {what_to_do}".strip()
        self.status_label.setText(f"error: {message}")
        box = QMessageBox(QMessageBox.Icon.Warning, title, message, parent=self)
        if what_to_do:
            box.setInformativeText(what_to_do)
        box.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose)
        box.open()

    # -- geometry --------------------------------------------------------------------------
    def _restore_geometry(self) -> None:
        geometry = self.settings.value("window/geometry")
        if isinstance(geometry, QByteArray) and self.restoreGeometry(geometry):
            pass
        else:
            self.resize(1340, 700)
        sizes = self.settings.value("window/splitter")
        if isinstance(sizes, QByteArray):
            self.splitter.restoreState(sizes)
        for name, splitter in self.views.splitters().items():
            state = self.settings.value(name)
            if isinstance(state, QByteArray):
                splitter.restoreState(state)

    def save_geometry(self) -> None:
        """Keep the window's size and splitters for next time."""
        self.settings.setValue("window/geometry", self.saveGeometry())
        self.settings.setValue("window/splitter", self.splitter.saveState())
        for name, splitter in self.views.splitters().items():
            self.settings.setValue(name, splitter.saveState())

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Stop the runner (and with it its Anvil) before the window goes."""
        self.save_geometry()
        self.bridge.stop()
        self.queued.clear()
        if self._runner is not None:
            self._runner.stop()
        super().closeEvent(event)


def run_verdict(summary: RunSummary, state: WorkerState | None) -> str:
    """The run's verdict as ``gridbench run`` gives it: the journal replayed, with what only
    the live run knows (escrow, the in-run audit); findings first."""
    live = []
    if not summary.escrow_conserved:
        live.append("escrow NOT conserved")
    if not summary.audit_clean:
        live.append("the in-run audit had findings")
    if summary.journal_path is None:
        return (
            "FAIL: " + "; ".join(live) if live else "verdict not checked: the run kept no journal"
        )
    try:
        data = load_run(summary.journal_path)
    except BenchError as exc:
        return f"verdict unknown: {exc}"
    verdict = verdict_text(data.report, state.value if state is not None else "")
    if live and data.report.clean:
        return "FAIL: " + "; ".join(live)
    return verdict + "".join(f"; {x}" for x in live)
