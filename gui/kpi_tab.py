"""The KPI tab: a finished run's key performance indicators, for the run and each area.

It reads the run's journal (read-only, :func:`bench.report.kpis.journal_all_kpis`) when a
run ends (``RunSummary``) or a past run is shown from the browser (``RunData``): one row
per KPI with its unit, one column for the whole run and one per area (campus, city).
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from PyQt6.QtWidgets import QLabel, QTableWidget, QTableWidgetItem, QVBoxLayout, QWidget

from bench.events import RunSummary
from bench.report.kpis import Kpis, journal_all_kpis

UNITS = (("_wh", "Wh"), ("_wei", "wei"), ("_w", "W"), ("_kg", "kg"))


def unit_of(name: str) -> str:
    """The unit a KPI's name ends with (a ratio otherwise)."""
    return next((unit for suffix, unit in UNITS if name.endswith(suffix)), "ratio")


def cell_text(value: float | int | None) -> str:
    """A KPI as the table shows it: whole wei with separators, Wh and W rounded, ratios
    to three decimals, "-" when it is not defined (no PV, no consumption)."""
    if value is None:
        return "-"
    if isinstance(value, int):
        return f"{value:,}"
    return f"{value:.3f}" if abs(value) < 10 else f"{value:,.0f}"


class KpiTab(QWidget):
    """KPIs of the last finished or shown run."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.journal: Path | None = None
        self.note = QLabel("no run yet: the KPIs of a finished or shown run appear here")
        self.note.setWordWrap(True)
        self.table = QTableWidget(0, 0)
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        layout = QVBoxLayout(self)
        layout.addWidget(self.note)
        layout.addWidget(self.table, 1)

    def on_summary(self, summary: RunSummary) -> None:
        """A run ended: show its journal's KPIs."""
        if summary.journal_path:
            self.show_journal(Path(summary.journal_path))

    def on_shown(self, data: object) -> None:
        """The browser showed a past run (its ``RunData``): show its KPIs."""
        journal = getattr(data, "journal", None)
        if isinstance(journal, Path):
            self.show_journal(journal)

    def show_journal(self, journal: Path) -> bool:
        """Fill the table from ``journal``; False (and a note) when its config cannot be
        rebuilt, so no KPI can be computed."""
        self.journal = journal
        found = journal_all_kpis(journal) if journal.is_file() else None
        if found is None:
            self.table.setRowCount(0)
            self.note.setText(
                f"{journal}: no readable config, so no KPIs (`gridbench report` says why)"
            )
            return False
        run, areas = found
        self.show_kpis({"run": run, **areas})
        self.note.setText(f"KPIs of {journal.parent.name} (journal read-only)")
        return True

    def show_kpis(self, columns: dict[str, Kpis]) -> None:
        """One row per KPI, one column per entry of ``columns``, then the unit."""
        names = [f.name for f in fields(Kpis)]
        headers = [*columns, "unit"]
        self.table.clear()
        self.table.setRowCount(len(names))
        self.table.setColumnCount(len(headers))
        self.table.setHorizontalHeaderLabels(headers)
        self.table.setVerticalHeaderLabels(names)
        for row, name in enumerate(names):
            for col, kpis in enumerate(columns.values()):
                self.table.setItem(row, col, QTableWidgetItem(cell_text(getattr(kpis, name))))
            self.table.setItem(row, len(columns), QTableWidgetItem(unit_of(name)))
        self.table.resizeColumnsToContents()

    def value(self, kpi: str, column: str) -> str:
        """The text shown for ``kpi`` in ``column`` (for tests and screenshots)."""
        cols = [_text(self.table.horizontalHeaderItem(c)) for c in range(self.table.columnCount())]
        rows = [_text(self.table.verticalHeaderItem(r)) for r in range(self.table.rowCount())]
        return _text(self.table.item(rows.index(kpi), cols.index(column)))


def _text(item: QTableWidgetItem | None) -> str:
    return "" if item is None else item.text()
