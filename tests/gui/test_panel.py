"""The panel, created offscreen, fed a few intervals, and looked at."""

from __future__ import annotations

import queue
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtGui import QColor, QImage

from bench.chain import Settlement
from bench.events import (
    BenchStatus,
    IntervalReport,
    LinkState,
    MeterAttested,
    MeterLink,
    MeterSample,
    RelaySwitched,
    RunSummary,
    SessionState,
    SessionStatus,
    WorkerState,
    WorkerStatus,
)
from bench.report.colors import meter_colors
from gui.panel import PanelWindow
from pricing import (
    AuditReport,
    Clearing,
    EnergyBalance,
    Finding,
    Forecast,
    IntervalPricing,
    PriceBreakdown,
    StorageModel,
    Trade,
    solve_storage,
)

pytestmark = pytest.mark.gui


_STORAGE = solve_storage(
    StorageModel(capacity_wh=1000.0, power_limit_w=500.0),
    Forecast.persistence([100.0], [200.0], step_h=0.25),
)


def _report(interval_id: int, unexplained_wh: float | None = None) -> IntervalReport:
    trades = (
        Trade("flat-1", "roof-a", 120 + interval_id, 150),
        Trade("city", "roof-b", 300, 150),
    )
    rejected = ((Trade("broke", "roof-a", 10, 150), "InsufficientBalance"),)
    flagged = unexplained_wh is not None and unexplained_wh > 40
    findings = (
        (Finding(interval_id, "energy_imbalance", f"{unexplained_wh} Wh missing"),)
        if flagged
        else ()
    )
    balance = EnergyBalance(interval_id, 1000.0, 950.0, 20.0, unexplained_wh, tolerance_wh=40.0)
    return IntervalReport(
        interval_id=interval_id,
        sim_time_s=900.0 * interval_id,
        metered=(),
        feeder_import_wh=None if unexplained_wh is None else 1000.0,
        orders=(),
        pricing=IntervalPricing(
            clearing=Clearing(150, sum(t.energy_wh for t in trades), trades),
            demand=(np.array([0.0, 300.0, 500.0, 700.0]), np.array([300.0, 250.0, 120.0])),
            supply=(np.array([0.0, 250.0, 600.0, 800.0]), np.array([80.0, 100.0, 260.0])),
            price=PriceBreakdown(80.0, 70.0, 12.0, 20.0, 18.2),
            storage=_STORAGE,
        ),
        settlement=Settlement(
            interval_id=interval_id,
            tx_hash="0x" + "ab" * 32,
            batch_hash="0x" + "cd" * 32,
            block_number=interval_id,
            settled_trades=trades,
            rejected_trades=rejected,
            gas_used=90_000,
            value_settled_wei=sum(t.value_wei for t in trades),
            energy_settled_wh=sum(t.energy_wh for t in trades),
        ),
        audit=AuditReport(2, 0, 0, (balance,), findings),
    )


def _count_color(image: QImage, rgb: str, tolerance: int = 40) -> int:
    """Pixels of ``image`` within ``tolerance`` (per channel) of the colour ``#rrggbb``."""
    target = QColor(rgb)
    count = 0
    for y in range(0, image.height(), 2):
        for x in range(0, image.width(), 2):
            c = QColor(image.pixel(x, y))
            if (
                abs(c.red() - target.red()) <= tolerance
                and abs(c.green() - target.green()) <= tolerance
                and abs(c.blue() - target.blue()) <= tolerance
            ):
                count += 1
    return count


def test_panel_shows_meters_curves_prices_and_trades(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    events: queue.Queue[object] = queue.Queue()
    window = PanelWindow(events)
    qtbot.addWidget(window)
    window.show()
    market_before = window.market_plot.grab().toImage()

    for step in range(30):
        for meter, participant, scale in (
            ("m1", "roof-a", -1.0),
            ("m2", "flat-1", 0.5),
            ("m3", "city", 2.0),
        ):
            power_w = scale * (1000 + 40 * step)
            events.put(MeterSample(meter, participant, 60.0 * step, power_w, 0.0, 0.0, True))
    for interval_id in range(1, 4):
        events.put(_report(interval_id))
    events.put(BenchStatus(0.0, "warning", "meter m2 unplugged; reconnecting"))
    window.bridge.drain()
    window.power_plot.refresh()

    assert window.power_plot.meter_count() == 3
    assert window.intervals == 3
    assert window.trades_settled == 6
    assert window.trades_table.rowCount() == 9  # 6 settled + 3 rejected
    assert window.trades_table.item(0, 0).text() == "3"  # newest first
    assert "unplugged" in window.status_label.text()
    expected_value = sum(
        t.value_wei for i in range(1, 4) for t in _report(i).settlement.settled_trades
    )
    assert window.value_settled_wei == expected_value

    events.put(
        RunSummary(
            3,
            3,
            6,
            3,
            1200,
            expected_value,
            "http://127.0.0.1:1",
            "0x" + "00" * 20,
            True,
            True,
            None,
        )
    )
    window.bridge.drain()
    assert "escrow conserved" in window.status_label.text()

    shot = tmp_path / "panel.png"
    assert window.grab().save(str(shot))
    image = QImage(str(shot))
    assert image.width() >= 800 and image.height() >= 600
    # Each view really drew its data: look for the curves' colours in each widget.
    # (the legend's colour swatches are there before any data: compare with that)
    market = window.market_plot.grab().toImage()
    for colour in ("#1f77b4", "#ff7f0e", "#d62728"):  # demand, supply, clearing point
        assert _count_color(market, colour) > _count_color(market_before, colour) + 40
    power = window.power_plot.grab().toImage()
    for colour in meter_colors(["m1", "m2", "m3"]).values():  # one curve per meter
        assert _count_color(power, colour) > 30


class RecordingRunner:
    """Stands in for ScenarioRunner (same Runner protocol) and records relay requests."""

    def __init__(self) -> None:
        self.events: queue.Queue[object] = queue.Queue()
        self.relay_requests: list[tuple[str, bool]] = []
        self.started = self.stopped = 0
        self.pauses: list[str] = []

    def start(self) -> None:
        self.started += 1

    def stop(self) -> None:
        self.stopped += 1

    def pause(self) -> None:
        self.pauses.append("pause")

    def resume(self) -> None:
        self.pauses.append("resume")

    def set_relay(self, meter_id: str, closed: bool) -> None:
        self.relay_requests.append((meter_id, closed))


def test_meters_tab_switches_relays_through_the_runner(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = RecordingRunner()
    window = PanelWindow(runner.events, runner)
    qtbot.addWidget(window)
    window.show()
    runner.events.put(MeterSample("m1", "roof-a", 0.0, -2500.0, 1000.0, 4000.0, True))
    runner.events.put(MeterSample("m2", "flat-1", 0.0, 800.0, 2000.0, 0.0, False))
    window.bridge.drain()
    table = window.meters_table
    assert table.rowCount() == 2
    assert [table.item(r, 5).text() for r in range(2)] == ["closed", "OPEN"]
    assert table.item(0, 2).text() == "-2.50"
    assert table.relay_button("m1").text() == "open relay"
    table.relay_button("m1").click()
    table.relay_button("m2").click()
    assert runner.relay_requests == [("m1", False), ("m2", True)]
    window.start_button.click()
    assert runner.started == 1


def test_energy_balance_tab_flags_theft(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = PanelWindow(queue.Queue())
    qtbot.addWidget(window)
    window.resize(1400, 900)
    window.show()
    window.left_tabs.setCurrentWidget(window.balance_plot)
    before = window.balance_plot.plot.grab().toImage()
    for interval_id, unexplained in [(1, 3.0), (2, -5.0), (3, 520.0), (4, 515.0)]:
        window.on_interval(_report(interval_id, unexplained))
    after = window.balance_plot.plot.grab().toImage()
    assert window.balance_plot.findings.count() == 2
    assert "energy_imbalance" in window.balance_plot.findings.item(0).text()
    assert _count_color(after, "#d62728") > _count_color(before, "#d62728") + 100  # theft bars
    window.grab().save(str(tmp_path / "balance.png"))


def test_typed_status_reaches_the_meters_tab(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = RecordingRunner()
    window = PanelWindow(runner.events, runner)
    qtbot.addWidget(window)
    window.start_button.click()
    assert window.stop_button.isEnabled()
    window.pause_button.click()
    window.pause_button.click()
    assert runner.pauses == ["pause", "resume"]
    for event in (
        MeterLink(0.0, "ev", LinkState.ONLINE, "gridmeter"),  # before any reading: a row
        MeterSample("ev", "ev", 0.0, 0.0, 0.0, 0.0, False),
        SessionStatus(900.0, "ev", SessionState.OPENED, "shop", 1, "cap 9.00 LABC"),
        MeterLink(950.0, "ev", LinkState.OUTAGE, "stalled"),
        RelaySwitched(960.0, "ev", True, "meter on ev is not connected"),
    ):
        runner.events.put(event)
    window.bridge.drain()
    table = window.meters_table
    assert table.rowCount() == 1
    assert [table.item(0, c).text() for c in (0, 5, 7, 8)] == [
        "ev",
        "switch failed",
        "OFFLINE",
        "#1 opened",
    ]
    assert "could not close the relay" in window.status_label.text()
    runner.events.put(MeterLink(990.0, "ev", LinkState.BACK, "40.0 s"))
    runner.events.put(WorkerStatus(1800.0, WorkerState.FINISHED))
    window.bridge.drain()
    assert table.item(0, 7).text() == "back"
    assert not window.stop_button.isEnabled() and not window.pause_button.isEnabled()


def test_meters_tab_shows_who_signs_each_meters_counters(qtbot) -> None:  # type: ignore[no-untyped-def]
    runner = RecordingRunner()
    window = PanelWindow(runner.events, runner)
    qtbot.addWidget(window)
    signer = "0x" + "ab" * 20
    runner.events.put(MeterAttested(0.0, "roof", "meter", signer))
    runner.events.put(MeterAttested(0.0, "shed", "bench", signer, "fake meters cannot sign"))
    window.bridge.drain()
    table = window.meters_table
    rows = {table.item(r, 0).text(): table.item(r, 9).text() for r in range(table.rowCount())}
    assert rows == {"roof": "meter-signed", "shed": "attested by bench"}
