"""The views of one run: power, market curves, prices and their components, energy
balance, trades, meters.

A new run gets fresh views (:class:`RunViews` is replaced whole), so nothing of the
previous run stays on screen.
"""

from __future__ import annotations

from collections.abc import Iterable

from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QSplitter, QTabWidget, QVBoxLayout, QWidget

from bench.events import BenchEvent, IntervalReport, MeterSample
from gui.widgets.balance_plot import BalancePlot
from gui.widgets.market_plot import MarketPlot
from gui.widgets.meters_table import MetersTable
from gui.widgets.power_plot import PowerPlot
from gui.widgets.price_plot import PriceComponentsPlot, PricePlot
from gui.widgets.trades_table import TradesTable


class RunViews(QWidget):
    """Every plot and table of one run, in splitters that fit a 1366 × 768 screen."""

    def __init__(self) -> None:
        super().__init__()
        self.power_plot = PowerPlot()
        self.market_plot = MarketPlot()
        self.price_plot = PricePlot()
        self.components_plot = PriceComponentsPlot()
        self.trades_table = TradesTable()
        self.meters_table = MetersTable()
        self.balance_plot = BalancePlot()
        plots = (self.power_plot, self.market_plot, self.price_plot, self.components_plot)
        for view in (*plots, self.balance_plot):
            view.setMinimumSize(200, 150)

        self.top = QSplitter(Qt.Orientation.Horizontal)
        self.top.addWidget(self.power_plot)
        self.top.addWidget(self.market_plot)
        self.left_tabs = QTabWidget()
        self.left_tabs.addTab(self.price_plot, "Prices")
        self.left_tabs.addTab(self.components_plot, "Price components")
        self.left_tabs.addTab(self.balance_plot, "Energy balance && audit")
        self.right_tabs = QTabWidget()
        self.right_tabs.addTab(self.trades_table, "Trades")
        self.right_tabs.addTab(self.meters_table, "Meters")
        self.bottom = QSplitter(Qt.Orientation.Horizontal)
        self.bottom.addWidget(self.left_tabs)
        self.bottom.addWidget(self.right_tabs)
        self.bottom.setSizes([500, 500])
        self.main = QSplitter(Qt.Orientation.Vertical)
        self.main.addWidget(self.top)
        self.main.addWidget(self.bottom)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.main)

    def splitters(self) -> dict[str, QSplitter]:
        """The splitters whose sizes the window saves, by name."""
        return {"views/top": self.top, "views/bottom": self.bottom, "views/main": self.main}

    def add_interval(self, report: IntervalReport) -> None:
        """Show one market interval in every view it belongs to."""
        self.market_plot.show_interval(report)
        self.price_plot.add_interval(report)
        self.components_plot.add_interval(report)
        self.trades_table.add_interval(report)
        self.balance_plot.add_interval(report)

    def show_events(self, events: Iterable[BenchEvent]) -> int:
        """Draw a run's samples and interval reports (a replayed journal); return how many
        intervals were drawn."""
        intervals = 0
        for event in events:
            if isinstance(event, MeterSample):
                self.power_plot.add_sample(event)
                self.meters_table.add_sample(event)
            elif isinstance(event, IntervalReport):
                self.add_interval(event)
                intervals += 1
        self.power_plot.refresh()
        return intervals
