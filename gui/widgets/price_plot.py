"""Price history per interval (with the shared battery's state of charge on the right
axis), and the breakdown of the latest instantaneous price in a widget of its own (each
gets a tab's whole width: side by side, the bars' labels were clipped at 1366 × 768)."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from bench.events import IntervalReport
from gui.widgets.legend import RowLegend

_SHORT = {
    "production_cost": "cost",
    "market": "market",
    "scarcity": "storage",
    "network": "network",
    "tax": "tax",
}
_COLORS = ("#7f7f7f", "#1f77b4", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf")


class PricePlot(pg.GraphicsLayoutWidget):
    """Cleared and instantaneous price per interval, the battery's SoC on the right axis."""

    def __init__(self) -> None:
        super().__init__()
        self._history = self.addPlot(row=0, col=0, title="Price per interval")
        self._history.setLabel("left", "LABC/kWh")
        self._history.getAxis("left").enableAutoSIPrefix(False)
        self._history.setLabel("bottom", "interval")
        self._history.showGrid(x=True, y=True, alpha=0.3)
        # the legend has its own row under the plot: it never covers a curve
        legend = RowLegend(3)
        self.addItem(legend, row=1, col=0)
        self.legend = legend
        self._cleared = self._history.plot(
            pen=pg.mkPen("#d62728", width=2), symbol="o", symbolSize=5
        )
        self._total = self._history.plot(
            pen=pg.mkPen("#1f77b4", width=2, style=pg.QtCore.Qt.PenStyle.DashLine)
        )
        legend.addItem(self._cleared, "cleared")
        legend.addItem(self._total, "instantaneous")
        # the battery's state of charge on its own axis, linked in x
        self._soc_view = pg.ViewBox()
        self._history.showAxis("right")
        self._history.scene().addItem(self._soc_view)
        self._history.getAxis("right").linkToView(self._soc_view)
        self._history.getAxis("right").setLabel("battery SoC (kWh)")
        self._soc_view.setXLink(self._history)
        self._soc = pg.PlotCurveItem(pen=pg.mkPen("#2ca02c", width=2))
        self._soc_view.addItem(self._soc)
        legend.addItem(self._soc, "battery SoC")
        self._history.vb.sigResized.connect(self._align_soc_view)
        self._soc_kwh: list[float] = []
        self._intervals: list[int] = []
        self._cleared_kwh: list[float] = []
        self._total_kwh: list[float] = []

    def add_interval(self, report: IntervalReport) -> None:
        """Append one interval's prices."""
        components = report.pricing.price.as_dict()
        self._intervals.append(report.interval_id)
        cleared = report.pricing.clearing.price_wei_per_wh
        self._cleared_kwh.append(np.nan if cleared is None else cleared / 1000.0)
        self._total_kwh.append(components.get("total", np.nan) / 1000.0)
        x = np.asarray(self._intervals, dtype=float)
        self._cleared.setData(x, np.asarray(self._cleared_kwh), connect="finite")
        self._total.setData(x, np.asarray(self._total_kwh), connect="finite")
        self._soc_kwh.append(np.nan if report.soc_wh is None else report.soc_wh / 1000.0)
        self._soc.setData(x, np.asarray(self._soc_kwh), connect="finite")

    @property
    def soc_kwh(self) -> tuple[float, ...]:
        """The state of charge shown per interval (kWh; NaN without a battery)."""
        return tuple(self._soc_kwh)

    def _align_soc_view(self) -> None:
        self._soc_view.setGeometry(self._history.vb.sceneBoundingRect())


class PriceComponentsPlot(pg.GraphicsLayoutWidget):
    """The latest interval's instantaneous price, component by component."""

    def __init__(self) -> None:
        super().__init__()
        self._breakdown = self.addPlot(row=0, col=0, title="Price components (latest interval)")
        self._breakdown.setLabel("left", "LABC/kWh")
        self._breakdown.getAxis("left").enableAutoSIPrefix(False)
        self._breakdown.showGrid(y=True, alpha=0.3)
        self._bars: pg.BarGraphItem | None = None
        self.heights_kwh: dict[str, float] = {}
        """The bars drawn, by component (LABC/kWh)."""

    def add_interval(self, report: IntervalReport) -> None:
        """Draw this interval's breakdown in place of the last one."""
        components = report.pricing.price.as_dict()
        self._breakdown.setTitle(f"Price components — interval {report.interval_id}")
        names = [name for name in components if name != "total"]
        heights = [components[name] / 1000.0 for name in names]
        if self._bars is not None:
            self._breakdown.removeItem(self._bars)
        brushes = [_COLORS[i % len(_COLORS)] for i in range(len(names))]
        self._bars = pg.BarGraphItem(
            x=np.arange(len(names)), height=heights, width=0.7, brushes=brushes
        )
        self._breakdown.addItem(self._bars)
        axis = self._breakdown.getAxis("bottom")
        axis.setTicks([[(i, _SHORT.get(name, name)) for i, name in enumerate(names)]])
        self.heights_kwh = dict(zip(names, heights, strict=True))
