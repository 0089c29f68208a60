"""One row per meter: live power, counters, relay state and a relay switch."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QAbstractItemView, QPushButton, QTableWidget, QTableWidgetItem

from bench.events import MeterSample

_HEADERS = ("meter", "participant", "power (kW)", "import (kWh)", "export (kWh)", "relay", "")


class MetersTable(QTableWidget):
    """Live state of every meter; the button asks for the relay to switch.

    ``sigRelayRequested(meter_id, closed)`` is emitted on a click; the panel forwards it
    to the runner, which sends the meter's authenticated relay command.
    """

    sigRelayRequested = pyqtSignal(str, bool)

    def __init__(self) -> None:
        super().__init__(0, len(_HEADERS))
        self.setHorizontalHeaderLabels(_HEADERS)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        vertical = self.verticalHeader()
        assert vertical is not None
        vertical.setVisible(False)
        self._rows: dict[str, int] = {}
        self._closed: dict[str, bool] = {}

    def add_sample(self, sample: MeterSample) -> None:
        """Update (or add) the meter's row."""
        row = self._rows.get(sample.meter_id)
        if row is None:
            row = self.rowCount()
            self.insertRow(row)
            self._rows[sample.meter_id] = row
            button = QPushButton()
            button.clicked.connect(lambda _=False, m=sample.meter_id: self._toggle(m))
            self.setCellWidget(row, 6, button)
        self._closed[sample.meter_id] = sample.relay_closed
        cells = (
            sample.meter_id,
            sample.participant,
            f"{sample.power_w / 1000:+.2f}",
            f"{sample.energy_import_wh / 1000:.3f}",
            f"{sample.energy_export_wh / 1000:.3f}",
            "closed" if sample.relay_closed else "OPEN",
        )
        for col, text in enumerate(cells):
            item = self.item(row, col)
            if item is None:
                self.setItem(row, col, QTableWidgetItem(text))
            else:
                item.setText(text)
        widget = self.cellWidget(row, 6)
        if isinstance(widget, QPushButton):
            widget.setText("open relay" if sample.relay_closed else "close relay")

    def relay_button(self, meter_id: str) -> QPushButton:
        """The relay button of a meter's row."""
        button = self.cellWidget(self._rows[meter_id], 6)
        assert isinstance(button, QPushButton)
        return button

    def _toggle(self, meter_id: str) -> None:
        self.sigRelayRequested.emit(meter_id, not self._closed.get(meter_id, True))
