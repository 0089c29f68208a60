"""Live meter power: one curve per meter, import positive, export negative."""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg

from bench.events import MeterSample
from bench.report.colors import alternate_color, meter_color
from gui.widgets.legend import RowLegend


class PowerPlot(pg.GraphicsLayoutWidget):
    """Scrolling plot of each meter's power in kW against simulated hours.

    Each meter keeps its colour in every run (:func:`bench.report.colors.meter_color`);
    the legend sits in its own row under the plot, so it never covers a curve.
    """

    def __init__(self, history: int = 2000) -> None:
        super().__init__()
        self.plot_item = self.addPlot(row=0, col=0, title="Meter power (import +, export −)")
        self.plot_item.setLabel("left", "power (kW)")
        self.plot_item.setLabel("bottom", "simulated time (h)")
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)
        self.plot_item.showGrid(x=True, y=True, alpha=0.3)
        self.legend = RowLegend(4)
        self.addItem(self.legend, row=1, col=0)
        self._history = history
        self._times_h: dict[str, deque[float]] = {}
        self._powers_kw: dict[str, deque[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self.colors: dict[str, str] = {}
        self._dirty = False

    def add_sample(self, sample: MeterSample) -> None:
        """Buffer one sample; call :meth:`refresh` to redraw."""
        key = sample.meter_id
        if key not in self._curves:
            color = meter_color(key)
            if color in self.colors.values():
                color = alternate_color(key)
            self.colors[key] = color
            name = f"{sample.meter_id} ({sample.participant})"
            curve = self.plot_item.plot(pen=pg.mkPen(color, width=2))
            self.legend.addItem(curve, name)
            self.ci.layout.activate()  # give the legend's new row its room now
            self._curves[key] = curve
            self._times_h[key] = deque(maxlen=self._history)
            self._powers_kw[key] = deque(maxlen=self._history)
        self._times_h[key].append(sample.sim_time_s / 3600.0)
        self._powers_kw[key].append(sample.power_w / 1000.0)
        self._dirty = True

    def refresh(self) -> None:
        """Push buffered samples to the curves (rate-limited by the caller's timer)."""
        if not self._dirty:
            return
        for key, curve in self._curves.items():
            curve.setData(
                np.fromiter(self._times_h[key], float), np.fromiter(self._powers_kw[key], float)
            )
        self._dirty = False

    def meter_count(self) -> int:
        """How many meters have been seen."""
        return len(self._curves)
