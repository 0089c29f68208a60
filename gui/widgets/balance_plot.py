"""The energy balance per interval: what the meters and the feeder leave unexplained."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg
from PyQt6.QtWidgets import QListWidget, QSplitter, QVBoxLayout, QWidget

from bench.events import IntervalReport


class BalancePlot(QWidget):
    """Bars of unexplained energy (theft or pilferage) against the audit's tolerance,
    and the audit's findings below."""

    def __init__(self) -> None:
        super().__init__()
        self.plot = pg.PlotWidget(title="Energy balance: unexplained energy per interval")
        self.plot.setLabel("left", "unexplained (Wh)")
        self.plot.setLabel("bottom", "interval")
        self.plot.getAxis("left").enableAutoSIPrefix(False)
        self.plot.showGrid(y=True, alpha=0.3)
        self._bars: pg.BarGraphItem | None = None
        self._tolerance = self.plot.plot(
            pen=pg.mkPen("#bbbbbb", width=1, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        self.findings = QListWidget()
        split = QSplitter(pg.QtCore.Qt.Orientation.Vertical)
        split.addWidget(self.plot)
        split.addWidget(self.findings)
        split.setSizes([300, 100])
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(split)
        self._intervals: list[int] = []
        self._unexplained_wh: list[float] = []
        self._tolerance_wh: list[float] = []

    def add_interval(self, report: IntervalReport) -> None:
        """Add one interval's balance (if a feeder meter measured it) and its findings."""
        for finding in report.findings:
            self.findings.insertItem(0, finding)
        balance = report.balance
        if balance.unexplained_wh is None:
            return
        self._intervals.append(report.interval_id)
        self._unexplained_wh.append(balance.unexplained_wh)
        self._tolerance_wh.append(balance.tolerance_wh)
        x = np.asarray(self._intervals, dtype=float)
        heights = np.asarray(self._unexplained_wh)
        flagged = np.abs(heights) > np.asarray(self._tolerance_wh)
        brushes = ["#d62728" if f else "#2ca02c" for f in flagged]
        if self._bars is not None:
            self.plot.removeItem(self._bars)
        self._bars = pg.BarGraphItem(x=x, height=heights, width=0.7, brushes=brushes)
        self.plot.addItem(self._bars)
        self._tolerance.setData(x, np.asarray(self._tolerance_wh))
