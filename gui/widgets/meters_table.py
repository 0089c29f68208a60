"""One row per meter: live power, counters, relay state, a relay switch and who signs
its counters on chain."""

from __future__ import annotations

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import QAbstractItemView, QPushButton, QTableWidget, QTableWidgetItem

from bench.events import MeterAttested, MeterLink, MeterSample, RelaySwitched, SessionStatus

_HEADERS = (
    "meter",
    "participant",
    "power (kW)",
    "import (kWh)",
    "export (kWh)",
    "relay",
    "",
    "link",
    "session",
    "attestation",
)
_RELAY, _BUTTON, _LINK, _SESSION, _ATTESTATION = 5, 6, 7, 8, 9


class MetersTable(QTableWidget):
    """Live state of every meter (readings, link, supply session); the button asks for
    the relay to switch.

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

    def _row(self, meter_id: str) -> int:
        """The meter's row, added on its first event."""
        row = self._rows.get(meter_id)
        if row is None:
            row = self.rowCount()
            self.insertRow(row)
            self._rows[meter_id] = row
            self._set(row, 0, meter_id)
            button = QPushButton()
            button.clicked.connect(lambda _=False, m=meter_id: self._toggle(m))
            self.setCellWidget(row, _BUTTON, button)
        return row

    def _set(self, row: int, col: int, text: str) -> None:
        item = self.item(row, col)
        if item is None:
            self.setItem(row, col, QTableWidgetItem(text))
        else:
            item.setText(text)

    def set_link(self, link: MeterLink) -> None:
        """Show whether the meter's link is up."""
        self._set(self._row(link.meter_id), _LINK, link.state.value if link.online else "OFFLINE")

    def set_session(self, session: SessionStatus) -> None:
        """Show the supply session on the meter."""
        self._set(self._row(session.meter_id), _SESSION, f"#{session.session_id} {session.state}")

    def set_attestation(self, attested: MeterAttested) -> None:
        """Show who signs the meter's counters on chain: the meter itself or the bench."""
        text = "meter-signed" if attested.attestation == "meter" else "attested by bench"
        self._set(self._row(attested.meter_id), _ATTESTATION, text)

    def set_relay_outcome(self, outcome: RelaySwitched) -> None:
        """A relay command failed: say so in the row (a success shows in the next reading)."""
        if outcome.error is not None:
            self._set(self._row(outcome.meter_id), _RELAY, "switch failed")

    def add_sample(self, sample: MeterSample) -> None:
        """Update (or add) the meter's row."""
        row = self._row(sample.meter_id)
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
            self._set(row, col, text)
        widget = self.cellWidget(row, _BUTTON)
        if isinstance(widget, QPushButton):
            widget.setText("open relay" if sample.relay_closed else "close relay")

    def relay_button(self, meter_id: str) -> QPushButton:
        """The relay button of a meter's row."""
        button = self.cellWidget(self._rows[meter_id], _BUTTON)
        assert isinstance(button, QPushButton)
        return button

    def _toggle(self, meter_id: str) -> None:
        self.sigRelayRequested.emit(meter_id, not self._closed.get(meter_id, True))
