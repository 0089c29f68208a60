"""The interval's demand and supply curves with the clearing point."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from bench.events import IntervalReport
from gui.widgets.legend import RowLegend


class MarketPlot(pg.GraphicsLayoutWidget):
    """Step curves of demand (bids) and supply (offers) and their equilibrium.

    The legend has its own row under the plot (it never sits on a curve); the clearing
    point's label is placed on the side of the point towards the plot's middle, so it is
    never clipped by the plot's edge.
    """

    def __init__(self) -> None:
        super().__init__()
        self.plot_item = self.addPlot(row=0, col=0, title="Demand and supply — last interval")
        self.plot_item.setLabel("left", "price (LABC/kWh)")
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)
        self.plot_item.setLabel("bottom", "energy (Wh)")
        self.plot_item.getAxis("bottom").enableAutoSIPrefix(False)
        self.plot_item.showGrid(x=True, y=True, alpha=0.3)
        self.legend = RowLegend(3)
        self.addItem(self.legend, row=1, col=0)
        self._demand = self.plot_item.plot(pen=pg.mkPen("#1f77b4", width=2))
        self._supply = self.plot_item.plot(pen=pg.mkPen("#ff7f0e", width=2))
        self._point = pg.ScatterPlotItem(size=14, brush=pg.mkBrush("#d62728"), pen=None)
        self.plot_item.addItem(self._point)
        self.legend.addItem(self._demand, "demand (bids)")
        self.legend.addItem(self._supply, "supply (offers)")
        self.legend.addItem(self._point, "clearing point")
        self.label = pg.TextItem(
            anchor=(0, 1), color="#d62728", fill=pg.mkBrush(255, 255, 255, 200)
        )
        self.plot_item.addItem(self.label)
        self.plot_item.vb.sigRangeChanged.connect(self._place_label)
        self._clearing: tuple[float, float] | None = None

    def setTitle(self, title: str) -> None:
        """The plot's title."""
        self.plot_item.setTitle(title)

    def show_interval(self, report: IntervalReport) -> None:
        """Draw the report's curves and clearing point."""
        self.setTitle(f"Demand and supply — interval {report.interval_id}")
        _set_steps(self._demand, *report.pricing.demand)
        _set_steps(self._supply, *report.pricing.supply)
        clearing = report.pricing.clearing
        if clearing.price_wei_per_wh is None or clearing.volume_wh == 0:
            self._point.setData([], [])
            self._clearing = None
            self.label.setText("no crossing")
            return
        price = clearing.price_wei_per_wh / 1000.0  # LABC/kWh
        self._point.setData([clearing.volume_wh], [price])
        self._clearing = (float(clearing.volume_wh), price)
        self.label.setText(f"{clearing.volume_wh} Wh @ {price:.3f} LABC/kWh")
        self._place_label()

    def _place_label(self) -> None:
        """Put the label beside the point, on the side towards the middle of the view."""
        if self._clearing is None:
            (x0, x1), (y0, y1) = self.plot_item.vb.viewRange()
            self.label.setAnchor((0.5, 0.5))
            self.label.setPos((x0 + x1) / 2, (y0 + y1) / 2)
            return
        x, y = self._clearing
        (x0, x1), (y0, y1) = self.plot_item.vb.viewRange()
        right_half, top_half = x > (x0 + x1) / 2, y > (y0 + y1) / 2
        # anchor (1, …) puts the text left of the point, (…, 0) below it
        self.label.setAnchor((1.05 if right_half else -0.05, -0.1 if top_half else 1.1))
        self.label.setPos(x, y)

    def label_inside(self) -> bool:
        """True when the clearing label lies wholly inside the plot's data area."""
        view = self.plot_item.vb.sceneBoundingRect()
        return bool(view.contains(self.label.sceneBoundingRect()))


def _set_steps(item: pg.PlotDataItem, energy_wh: np.ndarray, price_wei_per_wh: np.ndarray) -> None:
    """Plot a step curve: edges (n+1) against levels (n) in LABC/kWh."""
    x = np.asarray(energy_wh, dtype=float)
    # 6-decimal token: wei/Wh * 1e3 Wh/kWh / 1e6 wei/LABC = LABC/kWh.
    y = np.asarray(price_wei_per_wh, dtype=float) / 1000.0
    if len(y) == 0:
        item.setData([], [])
    elif len(x) == len(y) + 1:
        item.setData(x, y, stepMode="center")
    else:
        item.setData(x, y)
