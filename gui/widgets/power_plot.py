"""Live meter power: one curve per meter, import positive, export negative."""

from __future__ import annotations

from collections import deque

import numpy as np
import pyqtgraph as pg

from bench.events import MeterSample

_PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2")


class PowerPlot(pg.PlotWidget):
    """Scrolling plot of each meter's power in kW against simulated hours."""

    def __init__(self, history: int = 2000) -> None:
        super().__init__(title="Meter power (import +, export −)")
        self.setLabel("left", "power (kW)")
        self.setLabel("bottom", "simulated time (h)")
        self.getAxis("left").enableAutoSIPrefix(False)
        self.showGrid(x=True, y=True, alpha=0.3)
        self.addLegend(offset=(10, 5), colCount=4, brush=(0, 0, 0, 160))
        self._history = history
        self._times_h: dict[str, deque[float]] = {}
        self._powers_kw: dict[str, deque[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._dirty = False

    def add_sample(self, sample: MeterSample) -> None:
        """Buffer one sample; call :meth:`refresh` to redraw."""
        key = sample.meter_id
        if key not in self._curves:
            color = _PALETTE[len(self._curves) % len(_PALETTE)]
            name = f"{sample.meter_id} ({sample.participant})"
            self._curves[key] = self.plot(pen=pg.mkPen(color, width=2), name=name)
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
