"""What users notice: legends off the data, the clearing label inside the plot, a meter's
colour the same whatever order meters arrive in, the window's geometry kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QSettings
from PyQt6.QtWidgets import QApplication

from bench.events import IntervalReport, MeterSample
from bench.fixtures import demo_config
from bench.report.colors import meter_color
from gui.panel import PanelWindow
from gui.widgets.market_plot import MarketPlot
from gui.widgets.power_plot import PowerPlot
from gui.widgets.price_plot import PricePlot
from pricing import Clearing, IntervalPricing, PriceBreakdown

pytestmark = pytest.mark.gui


def _samples(order: list[str]) -> list[MeterSample]:
    return [
        MeterSample(m, f"owner-{m}", 60.0 * step, 1000.0 * (k + 1) - 50 * step, 0, 0, True)
        for step in range(20)
        for k, m in enumerate(order)
    ]


def test_power_colours_follow_the_meter_id_not_the_arrival_order(qtbot) -> None:  # type: ignore[no-untyped-def]
    meters = ["roof", "flat", "shop", "feeder", "clinic"]
    first, second = PowerPlot(), PowerPlot()
    qtbot.addWidget(first)
    qtbot.addWidget(second)
    for sample in _samples(meters):
        first.add_sample(sample)
    for sample in _samples(list(reversed(meters))):
        second.add_sample(sample)
    assert first.colors == second.colors
    assert len(set(first.colors.values())) == len(meters)
    assert first.colors["roof"] == meter_color("roof")


def test_legends_sit_under_their_plots(qtbot) -> None:  # type: ignore[no-untyped-def]
    plot = PowerPlot()
    qtbot.addWidget(plot)
    plot.resize(700, 400)
    plot.show()
    QApplication.processEvents()
    for sample in _samples(["roof", "flat", "shop", "feeder", "clinic", "ev"]):
        plot.add_sample(sample)  # legend entries are added after the layout was made
    plot.refresh()
    QApplication.processEvents()
    assert plot.legend.height() > 10
    assert plot.legend.geometry().top() >= plot.graphics.geometry().bottom()
    market, prices = MarketPlot(), PricePlot()  # pyqtgraph legends in their own row
    for other, item in ((market, market.plot_item), (prices, prices._history)):
        qtbot.addWidget(other)
        other.resize(500, 320)
        other.show()
        QApplication.processEvents()
        legend, view = other.legend.sceneBoundingRect(), item.vb.sceneBoundingRect()
        assert legend.height() > 10 and legend.top() >= view.bottom(), (other, legend, view)


def _report(volume_wh: int, price: int, demand: tuple, supply: tuple) -> IntervalReport:
    pricing = IntervalPricing(
        Clearing(price, volume_wh, ()),
        (np.asarray(demand[0], float), np.asarray(demand[1], float)),
        (np.asarray(supply[0], float), np.asarray(supply[1], float)),
        PriceBreakdown(0, 0, 0, 0, 0),
        None,  # type: ignore[arg-type]
    )
    return IntervalReport(1, 900.0, (), None, (), pricing, None, None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("volume_wh", "price"),
    [(3000, 300), (3000, 10), (1, 300), (1, 10)],
    ids=["top-right", "bottom-right", "top-left", "bottom-left"],
)
def test_the_clearing_label_stays_inside_the_plot(qtbot, volume_wh: int, price: int) -> None:  # type: ignore[no-untyped-def]
    plot = MarketPlot()
    qtbot.addWidget(plot)
    plot.resize(480, 320)
    plot.show()
    report = _report(volume_wh, price, ([0, 1000, 3000], [300, 200]), ([0, 2000, 3000], [10, 300]))
    plot.show_interval(report)
    plot.plot_item.vb.autoRange(padding=0.0)  # the point on the view's very edge
    QApplication.processEvents()
    assert plot.label.toPlainText().startswith(f"{volume_wh} Wh @ {price / 1000:.3f} LABC/kWh")
    assert plot.label_inside()


def test_window_geometry_and_splitters_are_kept(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    ini = str(tmp_path / "panel.ini")
    window = PanelWindow(settings=QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    window.resize(720, 540)  # within the offscreen screen (800 x 600)
    window.show()
    window.splitter.setSizes([300, 420])
    QApplication.processEvents()
    kept = window.splitter.sizes()
    window.close()
    again = PanelWindow(settings=QSettings(ini, QSettings.Format.IniFormat))
    qtbot.addWidget(again)
    again.show()
    QApplication.processEvents()
    assert (again.width(), again.height()) == (720, 540)
    assert again.splitter.sizes() == kept
    hint = again.minimumSizeHint()
    assert hint.width() <= 1366 and hint.height() <= 768, "fits a 1366 x 768 screen"


def test_a_long_legend_wraps_to_the_plots_width(qtbot) -> None:  # type: ignore[no-untyped-def]
    plot = PowerPlot()
    qtbot.addWidget(plot)
    plot.show()
    names = ["roof-library", "city-clinic", "storage-bay", "roof-labs", "feeder", "heater"]
    for sample in _samples(names):
        plot.add_sample(sample)
    heights = {}
    for width in (900, 420, 900):  # narrowed, then widened again
        plot.resize(width, 360)
        QApplication.processEvents()
        legend = plot.legend.geometry()
        assert legend.left() >= 0 and legend.right() < width, (width, legend)
        assert legend.bottom() < plot.height(), "the legend's last row is not cut off"
        needed = plot.legend.heightForWidth(legend.width())
        assert legend.height() >= needed, (width, legend.height(), needed)
        heights[width] = legend.height()
    assert heights[420] > heights[900], "the narrow legend wraps to more rows"
    assert plot.legend_names() == sorted(f"{n} (owner-{n})" for n in names)
    assert "-" not in plot.legend.text(), "an entry never breaks at its hyphen"


def test_run_buttons_and_price_units_are_on_a_1366x768_screen(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = PanelWindow(settings=QSettings(str(tmp_path / "p.ini"), QSettings.Format.IniFormat))
    qtbot.addWidget(window)
    assert window.open_config(demo_config())
    pane = window.pane
    window.show()
    for height in (740, 560):  # a 1366 x 768 screen less a task bar; a window made smaller
        window.resize(1366, height)
        QApplication.processEvents()
        queue = (pane.add_button, pane.remove_button) if height == 740 else ()
        controls = (pane.start_button, pane.pause_button, pane.stop_button, pane.progress_bar)
        for widget in (*controls, *queue):
            assert not widget.visibleRegion().isEmpty(), (height, widget.text(), "scrolled away")
            corner = widget.mapTo(window, widget.rect().bottomRight())
            assert window.rect().contains(corner)
    field = pane.form.fields["market.production_cost_wei_per_wh"]
    assert field.unit.text() == "wei/Wh = 0.060 LABC/kWh"
    field.editor.setText("85")
    assert field.unit.text() == "wei/Wh = 0.085 LABC/kWh"
    viewport = pane.form.parentWidget()  # the parameters' scroll area's viewport
    assert viewport is not None and pane.form.width() <= viewport.width(), "no sideways scroll"
    QApplication.processEvents()
    for f in pane.form.fields.values():  # every unit inside the visible width
        right = f.unit.mapTo(pane.form, f.unit.rect().topRight()).x()
        assert not f.key.unit or right <= viewport.width(), (f.path, right, viewport.width())
    window.grab().save(str(tmp_path / "pane-1366x740.png"))
