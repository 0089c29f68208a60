"""Live meter power: one curve per meter, import positive, export negative."""

from __future__ import annotations

from collections import deque
from html import escape

import numpy as np
import pyqtgraph as pg
from PyQt6.QtCore import Qt
from PyQt6.QtWidgets import QLabel, QVBoxLayout, QWidget

from bench.events import MeterSample
from bench.report.colors import alternate_color, meter_color

NON_BREAKING_HYPHEN = "\u2011"
"""Shown for a hyphen in a legend entry (Qt breaks lines after a plain one)."""


class PowerPlot(QWidget):
    """Scrolling plot of each meter's power in kW against simulated hours.

    Each meter keeps its colour in every run (:func:`bench.report.colors.meter_color`).
    The legend is a word-wrapped label under the plot: it never covers a curve and, with
    many meters, wraps to the plot's width instead of running off the window's edge.
    """

    def __init__(self, history: int = 2000) -> None:
        super().__init__()
        self.graphics = pg.GraphicsLayoutWidget()
        self.plot_item = self.graphics.addPlot(
            row=0, col=0, title="Meter power (import +, export −)"
        )
        self.plot_item.setLabel("left", "power (kW)")
        self.plot_item.setLabel("bottom", "simulated time (h)")
        self.plot_item.getAxis("left").enableAutoSIPrefix(False)
        self.plot_item.showGrid(x=True, y=True, alpha=0.3)
        self.legend = QLabel()
        self.legend.setWordWrap(True)
        self.legend.setTextFormat(Qt.TextFormat.RichText)
        self.legend.setStyleSheet("background: black; color: #cccccc; padding: 2px 8px;")
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self.graphics, 1)
        layout.addWidget(self.legend)
        self._history = history
        self._times_h: dict[str, deque[float]] = {}
        self._powers_kw: dict[str, deque[float]] = {}
        self._curves: dict[str, pg.PlotDataItem] = {}
        self._names: dict[str, str] = {}
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
            self._names[key] = f"{sample.meter_id} ({sample.participant})"
            self._curves[key] = self.plot_item.plot(pen=pg.mkPen(color, width=2))
            self._times_h[key] = deque(maxlen=self._history)
            self._powers_kw[key] = deque(maxlen=self._history)
            self._show_legend()
        self._times_h[key].append(sample.sim_time_s / 3600.0)
        self._powers_kw[key].append(sample.power_w / 1000.0)
        self._dirty = True

    def _show_legend(self) -> None:
        """One entry per meter, sorted by id; an entry never breaks inside, the list wraps
        between entries."""
        entries = [
            f'<span style="color:{self.colors[k]}">&#9473;&#9473;</span>&nbsp;'
            + escape(self._names[k]).replace(" ", "&nbsp;").replace("-", NON_BREAKING_HYPHEN)
            for k in sorted(self._names)
        ]
        self.legend.setText(" &nbsp; ".join(entries))

    def legend_names(self) -> list[str]:
        """The legend's entries as shown (sorted by meter id)."""
        return [self._names[k] for k in sorted(self._names)]

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
