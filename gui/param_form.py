"""A parameter form generated from the bench config's schema, with units, ranges and
validation messages next to each field.

Every plain table of the schema (``[scenario]``, ``[market]`` and any table added later,
say tariffs or strategies) becomes a group, plus one group for the faults of every
emulated meter. Values are checked by the schema itself, so a message in the form is
the message ``gridbench config check`` would print.
"""

from __future__ import annotations

from typing import Any

from PyQt6.QtCore import pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QVBoxLayout,
    QWidget,
)

from bench.config import tables
from bench.config.overrides import (
    FAULTS_PATH,
    PARTICIPANTS_PATH,
    parameter_tables,
    parameter_values,
)
from bench.config.schema import Key, Table, check_value
from bench.errors import ConfigError
from pricing.units import labc_per_kwh


def _editable(key: Key) -> bool:
    return key.kind in ("int", "float", "bool") or (key.kind == "str" and bool(key.choices))


class _Field:
    """One key's editor, its unit and its message label."""

    def __init__(self, path: str, table: Table, key: Key) -> None:
        self.path, self.table, self.key = path, table, key
        self.message = QLabel()
        self.message.setStyleSheet("color: #c0392b")
        self.message.setWordWrap(True)
        self.message.hide()
        self.editor: QLineEdit | QComboBox | QCheckBox
        if key.kind == "bool":
            self.editor = QCheckBox()
        elif key.choices:
            self.editor = QComboBox()
            self.editor.addItems(key.choices)
        else:
            self.editor = QLineEdit()
            self.editor.setPlaceholderText(key.range_text())
        tip = key.doc + (f"; range {key.range_text()}" if key.range_text() else "")
        self.editor.setToolTip(tip + (f" {key.unit}" if key.unit else ""))
        self.editor.setObjectName(path)
        self.unit = QLabel(key.unit)
        self.initial: Any = None

    def set_value(self, value: Any) -> None:
        self.initial = value
        if isinstance(self.editor, QCheckBox):
            self.editor.setChecked(bool(value))
        elif isinstance(self.editor, QComboBox):
            self.editor.setCurrentText(str(value))
        else:
            self.editor.setText("" if value is None else _text(value))
        self.message.hide()

    def raw_value(self) -> Any:
        if isinstance(self.editor, QCheckBox):
            return self.editor.isChecked()
        if isinstance(self.editor, QComboBox):
            return self.editor.currentText()
        text = self.editor.text().strip()
        try:
            return int(text)
        except ValueError:
            pass
        try:
            return float(text)
        except ValueError:
            return text

    def validate(self) -> str | None:
        """The schema's message for the current value, shown under the field; None if fine."""
        try:
            check_value(self.table, self.key.name, self.raw_value(), self.path)
        except ConfigError as exc:
            self.message.setText(str(exc))
            self.message.show()
            return str(exc)
        self.message.hide()
        self._show_unit()
        return None

    def _show_unit(self) -> None:
        """The unit, and a price the config gives in wei/Wh also in LABC/kWh (the unit
        everything else in the panel shows)."""
        value = self.raw_value()
        if self.key.unit == "wei/Wh" and isinstance(value, int | float):
            self.unit.setText(f"wei/Wh = {labc_per_kwh(value)} LABC/kWh")


class ParameterForm(QWidget):
    """Groups of fields, one per schema table; :meth:`overrides` returns what was changed."""

    sigValidity = pyqtSignal(bool)

    def __init__(self) -> None:
        super().__init__()
        self.fields: dict[str, _Field] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        for prefix, table in parameter_tables():
            group = QGroupBox(f"[{table.name}]" if prefix != FAULTS_PATH else "faults (emulated)")
            group.setToolTip(table.doc)
            form = QFormLayout(group)
            # a long key name goes above its field when the pane is narrow
            form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
            for key in table.keys:
                if _editable(key):
                    self._add_field(form, _Field(f"{prefix}.{key.name}", table, key), key.name)
            layout.addWidget(group)
        self.strategies = QGroupBox("strategies (per participant)")
        self.strategies.setToolTip("each participant's bidding strategy ([[participants]])")
        layout.addWidget(self.strategies)
        layout.addStretch(1)
        self.setEnabled(False)

    def _add_field(self, form: QFormLayout, field: _Field, label: str) -> None:
        self.fields[field.path] = field
        row = QWidget()
        box = QVBoxLayout(row)
        box.setContentsMargins(0, 0, 0, 0)
        line = QHBoxLayout()
        line.addWidget(field.editor, 1)
        if field.key.unit:
            line.addWidget(field.unit)
        box.addLayout(line)
        box.addWidget(field.message)
        form.addRow(label, row)
        self._watch(field)

    def _participant_fields(self, values: dict[str, Any]) -> None:
        """A field per participant and key of ``participants.NAME.KEY`` (the document's
        participants: made again for each config opened)."""
        for path in [p for p in self.fields if p.startswith(f"{PARTICIPANTS_PATH}.")]:
            del self.fields[path]
        old = self.strategies.layout()
        if old is not None:
            QWidget().setLayout(old)  # a layout is replaced by moving the old one away
        form = QFormLayout(self.strategies)
        form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.WrapLongRows)
        keys = {k.name: k for k in tables.PARTICIPANTS.keys}
        for path in values:
            if path.startswith(f"{PARTICIPANTS_PATH}."):
                name, _, key = path.removeprefix(f"{PARTICIPANTS_PATH}.").rpartition(".")
                field = _Field(path, tables.PARTICIPANTS, keys[key])
                self._add_field(form, field, name)
        self.strategies.setVisible(form.rowCount() > 0)

    def _watch(self, field: _Field) -> None:
        editor = field.editor
        if isinstance(editor, QLineEdit):
            editor.textChanged.connect(self._changed)
        elif isinstance(editor, QComboBox):
            editor.currentTextChanged.connect(self._changed)
        else:
            editor.toggled.connect(self._changed)

    def _changed(self, *_args: object) -> None:
        self.sigValidity.emit(self.validate())

    def load(self, document: dict[str, Any]) -> None:
        """Fill every field from a parsed config document (defaults where absent)."""
        values = parameter_values(document)
        self._participant_fields(values)
        for path, value in values.items():
            field = self.fields.get(path)
            if field is not None:
                field.set_value(value)
        self.setEnabled(True)
        self.sigValidity.emit(self.validate())

    def validate(self) -> bool:
        """Check every field; True when all are valid (messages shown where not)."""
        return all([f.validate() is None for f in self.fields.values()])

    def set_value(self, path: str, value: Any) -> None:
        """Write one field's editor as a person would (for the queue and for tests)."""
        field = self.fields[path]
        editor = field.editor
        if isinstance(editor, QCheckBox):
            editor.setChecked(bool(value))
        elif isinstance(editor, QComboBox):
            editor.setCurrentText(str(value))
        else:
            editor.setText(_text(value))

    def overrides(self) -> dict[str, Any]:
        """The fields changed from the file's values, checked: ``{'table.key': value}``."""
        out: dict[str, Any] = {}
        for path, field in self.fields.items():
            value = check_value(field.table, field.key.name, field.raw_value(), path)
            if value != field.initial:
                out[path] = value
        return out


def _text(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e15 else repr(value)
    return str(value)
