"""Table of settled (and rejected) trades, newest first."""

from __future__ import annotations

from PyQt6.QtWidgets import QAbstractItemView, QTableWidget, QTableWidgetItem

from bench.events import IntervalReport
from pricing.units import labc, labc_per_kwh

_HEADERS = (
    "interval",
    "buyer",
    "seller",
    "energy (Wh)",
    "price (LABC/kWh)",
    "value (LABC)",
    "status",
)


class TradesTable(QTableWidget):
    """Each trade of each interval: settled on chain, or rejected with the reason."""

    def __init__(self, max_rows: int = 500) -> None:
        super().__init__(0, len(_HEADERS))
        self.setHorizontalHeaderLabels(_HEADERS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        vertical, horizontal = self.verticalHeader(), self.horizontalHeader()
        assert vertical is not None and horizontal is not None
        vertical.setVisible(False)
        horizontal.setStretchLastSection(True)
        self._max_rows = max_rows

    def add_interval(self, report: IntervalReport) -> None:
        """Insert the interval's trades at the top."""
        settlement = report.settlement
        tx = settlement.tx_hash[:10] if settlement.tx_hash else "-"
        rows = [(t, f"settled {tx}") for t in settlement.settled_trades]
        rows += [(t, f"rejected: {reason}") for t, reason in settlement.rejected_trades]
        for trade, status in reversed(rows):
            self.insertRow(0)
            cells = (
                str(report.interval_id),
                trade.buyer,
                trade.seller,
                str(trade.energy_wh),
                labc_per_kwh(trade.price_wei_per_wh),
                labc(trade.value_wei),
                status,
            )
            for col, text in enumerate(cells):
                self.setItem(0, col, QTableWidgetItem(text))
        while self.rowCount() > self._max_rows:
            self.removeRow(self.rowCount() - 1)
        self.resizeColumnsToContents()
