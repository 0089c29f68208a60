"""The panel's KPI tab: the run's and each area's KPIs of a finished run's journal."""

from __future__ import annotations

import queue
from pathlib import Path

import pytest

from bench.events import RunSummary
from bench.report.kpis import Kpis
from gui import kpi_tab
from gui.kpi_tab import KpiTab, cell_text, unit_of
from gui.panel import PanelWindow

pytestmark = pytest.mark.gui


def _kpis(pv_wh: float, revenue_wei: int, ratio: float | None) -> Kpis:
    return Kpis(
        pv_wh=pv_wh,
        self_consumed_wh=pv_wh / 2,
        traded_local_wh=0.0,
        exported_wh=0.0,
        curtailed_wh=1234.5,
        city_demand_wh=0.0,
        shortfall_covered_wh=0.0,
        shed_wh=0.0,
        prosumer_revenue_wei=revenue_wei,
        consumer_savings_wei=0,
        self_sufficiency=ratio,
        self_consumption=0.5,
    )


def test_cells_carry_units_and_separators() -> None:
    assert (unit_of("pv_wh"), unit_of("peak_import_w"), unit_of("prosumer_revenue_wei")) == (
        "Wh",
        "W",
        "wei",
    )
    assert unit_of("self_sufficiency") == "ratio" and unit_of("emissions_avoided_kg") == "kg"
    assert cell_text(1_234_567) == "1,234,567" and cell_text(0.25) == "0.250"
    assert cell_text(12_345.6) == "12,346" and cell_text(None) == "-"


def test_a_finished_run_fills_the_tab_with_the_run_and_its_areas(
    qtbot, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:  # type: ignore[no-untyped-def]
    journal = tmp_path / "run" / "journal.sqlite"
    journal.parent.mkdir()
    journal.write_bytes(b"")
    run, campus, city = (
        _kpis(5000.0, 622_000, 0.66),
        _kpis(4900.0, 607_000, None),
        _kpis(100.0, 15_000, 0.7),
    )
    seen: list[Path] = []

    def found(path: Path) -> tuple[Kpis, dict[str, Kpis]]:  # the journal layer, isolated
        seen.append(path)
        return run, {"campus": campus, "city": city}

    monkeypatch.setattr(kpi_tab, "journal_all_kpis", found)
    window = PanelWindow(queue.Queue())
    qtbot.addWidget(window)
    tabs = [window.side_tabs.tabText(i) for i in range(window.side_tabs.count())]
    assert "KPIs" in tabs
    summary = RunSummary(
        1, 1, 0, 0, 0, 0, "http://127.0.0.1:1", "0x" + "00" * 20, True, True, str(journal)
    )
    window.bridge.sigSummary.emit(summary)
    tab = window.kpi_tab
    assert seen == [journal]
    assert tab.value("pv_wh", "run") == "5,000" and tab.value("pv_wh", "campus") == "4,900"
    assert tab.value("prosumer_revenue_wei", "city") == "15,000"
    assert tab.value("self_sufficiency", "campus") == "-"
    assert tab.value("curtailed_wh", "unit") == "Wh"
    assert "run" in tab.note.text()


def test_a_journal_without_a_config_says_so(qtbot, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    tab = KpiTab()
    qtbot.addWidget(tab)
    assert not tab.show_journal(tmp_path / "missing.sqlite")
    assert "no readable config" in tab.note.text() and tab.table.rowCount() == 0
