"""The control panel's main window: live meters, market curves, prices and trades."""

from __future__ import annotations

import queue
from typing import Protocol

from PyQt6.QtCore import Qt, QTimer
from PyQt6.QtGui import QCloseEvent
from PyQt6.QtWidgets import (
    QGridLayout,
    QLabel,
    QMainWindow,
    QPushButton,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from bench.events import (
    BenchEvent,
    IntervalReport,
    RunSummary,
    StatusEvent,
    WorkerState,
    WorkerStatus,
)
from gui.bridge import EventBridge
from gui.widgets.balance_plot import BalancePlot
from gui.widgets.market_plot import MarketPlot
from gui.widgets.meters_table import MetersTable
from gui.widgets.power_plot import PowerPlot
from gui.widgets.price_plot import PricePlot
from gui.widgets.trades_table import TradesTable


class Runner(Protocol):
    """What the panel drives: a scenario running in its own worker thread."""

    events: queue.Queue[BenchEvent]

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def pause(self) -> None: ...

    def resume(self) -> None: ...

    def set_relay(self, meter_id: str, closed: bool) -> None: ...


class PanelWindow(QMainWindow):
    """Main window. It never blocks: bench work runs in the runner's thread."""

    def __init__(self, events: queue.Queue[BenchEvent], runner: Runner | None = None) -> None:
        super().__init__()
        self.setWindowTitle("gridbench — microgrid trading panel")
        self.resize(1400, 900)
        self._runner = runner
        self.intervals = 0
        self.trades_settled = 0
        self.value_settled_wei = 0
        self.energy_traded_wh = 0

        self.power_plot = PowerPlot()
        self.market_plot = MarketPlot()
        self.price_plot = PricePlot()
        self.trades_table = TradesTable()
        self.meters_table = MetersTable()
        self.balance_plot = BalancePlot()
        self.status_label = QLabel("idle")
        self.totals_label = QLabel(self._totals_text())
        self.totals_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.pause_button = QPushButton("Pause")
        self.pause_button.setCheckable(True)
        self.start_button.clicked.connect(self._start)
        self.stop_button.clicked.connect(self._stop)
        self.pause_button.toggled.connect(self._pause)
        self.stop_button.setEnabled(False)
        self.pause_button.setEnabled(False)
        if runner is None:
            self.start_button.setEnabled(False)

        self.setCentralWidget(self._layout())
        status_bar = self.statusBar()
        assert status_bar is not None
        status_bar.addWidget(self.status_label, 1)

        self.bridge = EventBridge(events, parent=self)
        self.bridge.sigMeterSample.connect(self.power_plot.add_sample)
        self.bridge.sigMeterSample.connect(self.meters_table.add_sample)
        self.bridge.sigMeterLink.connect(self.meters_table.set_link)
        self.bridge.sigSession.connect(self.meters_table.set_session)
        self.bridge.sigRelay.connect(self.meters_table.set_relay_outcome)
        self.bridge.sigMeterAttested.connect(self.meters_table.set_attestation)
        self.bridge.sigWorker.connect(self.on_worker)
        self.meters_table.sigRelayRequested.connect(self._relay)
        self.bridge.sigInterval.connect(self.on_interval)
        self.bridge.sigStatus.connect(self.on_status)
        self.bridge.sigSummary.connect(self.on_summary)
        self.bridge.start()
        self._redraw = QTimer(self)
        self._redraw.setInterval(100)
        self._redraw.timeout.connect(self.power_plot.refresh)
        self._redraw.start()

    def _layout(self) -> QWidget:
        controls = QWidget()
        row = QGridLayout(controls)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.start_button, 0, 0)
        row.addWidget(self.stop_button, 0, 1)
        row.addWidget(self.pause_button, 0, 2)
        row.addWidget(self.totals_label, 0, 3)
        row.setColumnStretch(3, 1)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.addWidget(self.power_plot)
        top.addWidget(self.market_plot)
        self.left_tabs = QTabWidget()
        self.left_tabs.addTab(self.price_plot, "Prices")
        self.left_tabs.addTab(self.balance_plot, "Energy balance && audit")
        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(self.trades_table, "Trades")
        self.right_tabs.addTab(self.meters_table, "Meters")
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.addWidget(self.left_tabs)
        bottom.addWidget(self.right_tabs)
        bottom.setSizes([700, 700])
        main = QSplitter(Qt.Orientation.Vertical)
        main.addWidget(top)
        main.addWidget(bottom)

        root = QWidget()
        layout = QVBoxLayout(root)
        layout.addWidget(controls)
        layout.addWidget(main, 1)
        return root

    def _totals_text(self) -> str:
        return (
            f"intervals {self.intervals}   trades settled {self.trades_settled}   "
            f"energy {self.energy_traded_wh} Wh   value {self.value_settled_wei / 1e6:.6f} LABC"
        )

    def _start(self) -> None:
        if self._runner is not None:
            self._runner.start()
            self.start_button.setEnabled(False)
            self.stop_button.setEnabled(True)
            self.pause_button.setEnabled(True)

    def _stop(self) -> None:
        if self._runner is not None:
            self._runner.stop()
            self.stop_button.setEnabled(False)
            self.pause_button.setEnabled(False)

    def _pause(self, paused: bool) -> None:
        if self._runner is None:
            return
        if paused:
            self._runner.pause()
        else:
            self._runner.resume()
        self.pause_button.setText("Resume" if paused else "Pause")

    def _relay(self, meter_id: str, closed: bool) -> None:
        if self._runner is None:
            self.status_label.setText("no run: the relay cannot be switched")
            return
        self._runner.set_relay(meter_id, closed)

    def on_interval(self, report: IntervalReport) -> None:
        """Show one market interval everywhere it belongs."""
        settlement = report.settlement
        self.intervals += 1
        self.trades_settled += len(settlement.settled_trades)
        self.value_settled_wei += settlement.value_settled_wei
        self.energy_traded_wh += settlement.energy_settled_wh
        self.market_plot.show_interval(report)
        self.price_plot.add_interval(report)
        self.trades_table.add_interval(report)
        self.balance_plot.add_interval(report)
        self.totals_label.setText(self._totals_text())
        if report.findings:
            self.status_label.setText(f"audit: {report.findings[0]}")

    def on_status(self, status: StatusEvent) -> None:
        """Show a status line from the bench."""
        self.status_label.setText(f"[{status.level}] {status.message}")

    def on_worker(self, status: WorkerStatus) -> None:
        """Follow the worker's state: pausable while it runs, nothing to stop once ended."""
        if status.state is WorkerState.RUNNING:
            self.pause_button.setEnabled(True)
        if status.state in (WorkerState.FINISHED, WorkerState.STOPPED, WorkerState.FAILED):
            self.stop_button.setEnabled(False)
            self.pause_button.setEnabled(False)

    def on_summary(self, summary: RunSummary) -> None:
        """Show the run's end."""
        conserved = "conserved" if summary.escrow_conserved else "NOT conserved"
        self.status_label.setText(
            f"run finished: {summary.trades_settled} trades, escrow {conserved}, "
            f"chain {summary.chain_url}"
        )
        self.start_button.setEnabled(False)
        self.stop_button.setEnabled(False)
        self.pause_button.setEnabled(False)

    def closeEvent(self, event: QCloseEvent | None) -> None:
        """Stop the runner before the window goes."""
        self.bridge.stop()
        if self._runner is not None:
            self._runner.stop()
        super().closeEvent(event)
