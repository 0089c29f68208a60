"""The interval's demand and supply curves with the clearing point."""

from __future__ import annotations

import numpy as np
import pyqtgraph as pg

from bench.events import IntervalReport


class MarketPlot(pg.PlotWidget):
    """Step curves of demand (bids) and supply (offers) and their equilibrium."""

    def __init__(self) -> None:
        super().__init__(title="Demand and supply — last interval")
        self.setLabel("left", "price (LABC/kWh)")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.setLabel("bottom", "energy", units="Wh")
        self.showGrid(x=True, y=True, alpha=0.3)
        self.addLegend(offset=(-10, 10))
        self._demand = self.plot(pen=pg.mkPen("#1f77b4", width=2), name="demand (bids)")
        self._supply = self.plot(pen=pg.mkPen("#ff7f0e", width=2), name="supply (offers)")
        self._point = pg.ScatterPlotItem(size=14, brush=pg.mkBrush("#d62728"), name="clearing")
        self.addItem(self._point)
        self._label = pg.TextItem(anchor=(0, 1), color="#d62728")
        self.addItem(self._label)

    def show_interval(self, report: IntervalReport) -> None:
        """Draw the report's curves and clearing point."""
        self.setTitle(f"Demand and supply — interval {report.interval_id}")
        _set_steps(self._demand, *report.pricing.demand)
        _set_steps(self._supply, *report.pricing.supply)
        clearing = report.pricing.clearing
        if clearing.price_wei_per_wh is None or clearing.volume_wh == 0:
            self._point.setData([], [])
            self._label.setText("no crossing")
            return
        price = clearing.price_wei_per_wh / 1000.0  # LABC/kWh
        self._point.setData([clearing.volume_wh], [price])
        self._label.setText(f" {clearing.volume_wh} Wh @ {price:.3f} LABC/kWh")
        self._label.setPos(clearing.volume_wh, price)


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
