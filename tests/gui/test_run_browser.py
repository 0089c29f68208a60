"""The run browser and the panel's polish, on two real short runs (fake meters, a real
Anvil): one honest, one with an unmetered load the audit flags."""

from __future__ import annotations

import contextlib
import io
import sqlite3
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from PyQt6.QtCore import QSettings
from PyQt6.QtGui import QImage

from bench.chain import Anvil
from bench.events import RunSummary, WorkerState
from gridbench.cli import main
from gui.panel import PanelWindow, run_verdict
from gui.run_browser import HEADERS
from tests.configs import consumer, meter_block, prosumer, run_config

pytestmark = [pytest.mark.gui, pytest.mark.chain]


def _config(theft_w: float) -> str:
    """Fake meters: the roof's 10 kW, the flat's 6 kW, the feeder; ``theft_w`` unmetered."""
    return run_config(
        intervals=2,
        scenario={"feeder_meter": "feeder", "unmetered_load_w": theft_w},
        meters=[
            meter_block("roof", "fake", -10000.0),
            meter_block("flat", "fake", 6000.0),
            meter_block("feeder", "fake"),
        ],
        participants=[prosumer("roof", 70), consumer("flat")],
    )


@dataclass(frozen=True)
class Runs:
    folder: Path
    honest: Path
    theft: Path


def _run(folder: Path, name: str, theft_w: float, url: str, *options: str) -> Path:
    config = folder / f"{name}.toml"
    config.write_text(_config(theft_w))
    with contextlib.redirect_stdout(io.StringIO()):
        args = ["run", "-q", "--config", str(config), "--chain-url", url, "--journal"]
        main([*args, str(folder), *options])
    (journal,) = folder.glob(f"*-{name}/journal.sqlite")
    return journal


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    folder = tmp_path_factory.mktemp("runs")
    with Anvil() as anvil:
        # an override of the file's own speed: recorded as an override, the run unchanged
        honest = _run(folder, "honest", 0.0, anvil.url, "--speed", "3600")
        theft = _run(folder, "theft", 4000.0, anvil.url)
        yield Runs(folder, honest, theft)


def _window(qtbot, runs: Runs, tmp_path: Path) -> PanelWindow:  # type: ignore[no-untyped-def]
    settings = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    window = PanelWindow(settings=settings, runs_dir=runs.folder)
    qtbot.addWidget(window)
    return window


def _sql(journal: Path, sql: str) -> list[tuple[object, ...]]:
    db = sqlite3.connect(journal)
    try:
        return db.execute(sql).fetchall()
    finally:
        db.close()


def test_browser_lists_replays_exports_and_compares_runs(qtbot, runs: Runs, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    window = _window(qtbot, runs, tmp_path)
    window.resize(1366, 768)
    window.show()
    window.side_tabs.setCurrentWidget(window.browser)  # listing reads every journal
    browser = window.browser
    assert browser.table.rowCount() == 2
    cells = {
        browser.table.item(r, 0).text(): [
            browser.table.item(r, c).text() for c in range(len(HEADERS))
        ]
        for r in range(2)
    }
    col = {h: i for i, h in enumerate(HEADERS)}
    honest, theft = cells[runs.honest.parent.name], cells[runs.theft.parent.name]
    assert honest[col["config"]] == "honest.toml"
    assert honest[col["verdict"]].startswith("PASS")
    assert theft[col["verdict"]].startswith("FAIL") and "cumulative_theft" in theft[col["verdict"]]
    assert honest[col["intervals"]] == "2/2"
    # the effective parameters: what the file sets (read here with tomllib, not the schema),
    # the override marked, the headline ones even at their default
    shown = dict(s.split("=", 1) for s in honest[col["parameters"]].split(", "))
    scenario = tomllib.loads(_config(0.0))["scenario"]
    for key, value in scenario.items():
        if key != "speed":
            text = shown[key]
            assert (text == value) if isinstance(value, str) else float(text) == value, key
    assert shown["*speed"] == "3600" and "speed" not in shown
    assert shown["mechanism"] == "pay_as_clear"  # the schema's default, not in the file
    assert [k for k in shown if k.startswith("*")] == ["*speed"]
    names = [browser.table.item(r, 0).text() for r in range(2)]
    honest_row = names.index(runs.honest.parent.name)
    tip = browser.table.item(honest_row, col["parameters"]).toolTip().splitlines()
    assert "scenario.speed = 3600  (override)" in tip
    assert "market.mechanism = pay_as_clear  (default)" in tip
    ((energy_wh,),) = _sql(runs.honest, "SELECT SUM(energy_wh) FROM trade WHERE status='settled'")
    assert honest[col["energy (Wh)"]] == str(energy_wh)

    # listing again replays nothing unchanged; a file that is no journal is counted, not listed
    listed = list(browser.runs)
    junk = runs.folder / "20260101T000000000000Z-junk" / "journal.sqlite"
    junk.parent.mkdir()
    junk.write_text("not a journal")
    browser.refresh()
    assert [id(d) for d in browser.runs] == [id(d) for d in listed]
    assert list(browser.errors) == [junk.parent] and "1 unreadable" in browser.folder_label.text()

    # select the honest run and show it: the journal replayed into the same views
    row = [browser.table.item(r, 0).text() for r in range(2)].index(runs.honest.parent.name)
    browser.select(row)
    assert browser.show_button.isEnabled() and not browser.compare_button.isEnabled()
    browser.show_button.click()
    assert window.intervals == 2
    assert window.status_label.text().startswith("PASS")
    (trades,) = _sql(runs.honest, "SELECT COUNT(*) FROM trade")[0]
    assert window.trades_table.rowCount() == trades
    prices = [p for (p,) in _sql(runs.honest, "SELECT price_wei_per_wh FROM clearing")]
    shown = window.price_plot._cleared.getData()[1]
    assert np.allclose(shown, np.asarray(prices, float) / 1000.0)
    assert window.power_plot.meter_count() == 3
    shot = tmp_path / "browser-1366x768.png"
    assert window.grab().save(str(shot))
    assert not QImage(str(shot)).isNull()
    status_bar = window.statusBar()
    assert status_bar is not None and status_bar.isVisible()
    assert window.rect().contains(status_bar.geometry()), "the status bar fits on screen"

    # "Export report" writes the file `gridbench report --html` writes
    out = window.export_report(tmp_path / "shown.html")
    assert out is not None and "PASS: 2 of 2 intervals settled" in out.read_text()
    cli_out = tmp_path / "cli.html"
    with contextlib.redirect_stdout(io.StringIO()):
        main(["report", str(runs.honest.parent), "--html", str(cli_out)])
    # the two differ only in the SVG's random clip-path ids
    assert len(out.read_text()) == len(cli_out.read_text())

    # compare the two runs side by side
    browser.select(0, 1)
    assert browser.compare_button.isEnabled()
    browser.compare_button.click()
    (comparison,) = window.comparisons
    qtbot.addWidget(comparison)
    assert [v.trades_table.rowCount() > 0 for v in comparison.views] == [True, True]
    comparison.resize(1366, 768)
    comparison.show()
    assert comparison.grab().save(str(tmp_path / "compare.png"))


def test_the_final_status_tells_the_verdict_findings_first(runs: Runs) -> None:
    def summary(journal: Path | None, escrow: bool = True) -> RunSummary:
        return RunSummary(3, 2, 2, 0, 100, 7000, "http://x", "0x0", escrow, True, journal)

    theft = run_verdict(summary(str(runs.theft)), WorkerState.FINISHED)  # type: ignore[arg-type]
    assert theft.startswith("FAIL: ") and "cumulative_theft" in theft.split(";")[0]
    honest = run_verdict(summary(str(runs.honest)), WorkerState.FINISHED)  # type: ignore[arg-type]
    assert honest.startswith("PASS")
    moved = run_verdict(summary(str(runs.honest), escrow=False), WorkerState.FINISHED)  # type: ignore[arg-type]
    assert moved == "FAIL: escrow NOT conserved"
    assert run_verdict(summary(None), WorkerState.FINISHED).startswith("verdict not checked")
