"""The panel's commissioning dialog: ``gridbench meter info|provision|calibrate`` in a form.

With a chain URL, Provision also registers the meter on that chain's market with its
signing address, owner and location (``meter provision --chain URL --market ADDRESS
--owner NAME``), through the same :func:`bench.chain.commission.register_meter`; Register
does it for a meter provisioned earlier.

Each step opens the meter's port, runs on a worker thread (a provision takes seconds: a
new signing key is a public-key computation on the AVR) and appends the same lines the
CLI prints to the dialog's log; the port is closed again after every step. Keys stay in
their keystore files (mode 0600): the dialog shows fingerprints only.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

from PyQt6.QtCore import QObject, pyqtSignal
from PyQt6.QtWidgets import (
    QCheckBox,
    QDialog,
    QDoubleSpinBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from bench.chain.commission import ChainTarget, register_meter
from bench.cli.meter import calibrate_lines, info_lines, provision_lines
from bench.devices import commissioning, wire
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.keystore import read_key_file
from bench.errors import BenchError
from bench.transport.link import DEFAULT_BAUD

CHECK_TOLERANCE = 0.005  # the CLI's default: 0.5 %


class _Done(QObject):
    """Carries a step's outcome from its worker thread to the GUI thread."""

    sigLines = pyqtSignal(object, bool)  # lines, succeeded


class CommissionDialog(QDialog):
    """Port, keystore and meter id; Info, Provision and Calibrate buttons; a log."""

    def __init__(
        self, parent: QWidget | None = None, *, reset_wait_s: float = 2.0, timeout_s: float = 2.0
    ) -> None:
        super().__init__(parent)
        self.setWindowTitle("Commission a meter")
        self.reset_wait_s = reset_wait_s  # 0 for a simavr meter
        self.timeout_s = timeout_s  # reply deadline (a new signing key: at least 5 s)
        self.port_edit = QLineEdit()
        self.port_edit.setPlaceholderText("/dev/ttyACM0 (gridbench emulate ports lists them)")
        self.keystore_edit = QLineEdit()
        self.keystore_edit.setPlaceholderText("keys/lab-1.key (empty: the meter's default key)")
        self.id_edit = QLineEdit()
        self.id_edit.setPlaceholderText("lab-1 (1-16 of A-Z a-z 0-9 - _ .)")
        self.volts_spin = _spin(230.0, 1.0, 500.0, " V")
        self.amps_spin = _spin(5.0, 0.1, 100.0, " A")
        self.chain_edit = QLineEdit()
        self.chain_edit.setPlaceholderText("http://127.0.0.1:8545 (empty: do not register)")
        self.market_edit = QLineEdit()
        self.market_edit.setPlaceholderText("0x... the GridMarket's address")
        self.owner_edit = QLineEdit()
        self.owner_edit.setPlaceholderText("the participant who owns the meter")
        self.location_edit = QLineEdit()
        self.location_edit.setPlaceholderText("where the meter is installed (optional)")
        self.owner_key_edit = QLineEdit()
        self.owner_key_edit.setPlaceholderText("keys/owner.json: the owner's wallet key (0600)")
        self.operator_key_edit = QLineEdit()
        self.operator_key_edit.setPlaceholderText(
            "keys/operator.json (0600; empty on Anvil: account 0)"
        )
        self.allow_anvil_check = QCheckBox("Accept Anvil's public development keys")
        self.info_button = QPushButton("Info")
        self.provision_button = QPushButton("Provision")
        self.register_button = QPushButton("Register")
        self.calibrate_button = QPushButton("Calibrate")
        self.log = QPlainTextEdit()
        self.log.setReadOnly(True)
        self.log.setMinimumSize(560, 220)

        meter_box = QGroupBox("Meter")
        form = QFormLayout(meter_box)
        form.addRow("Port", self.port_edit)
        form.addRow("Relay keystore", self.keystore_edit)
        form.addRow("Meter id", self.id_edit)
        chain_box = QGroupBox("Register on chain (optional)")
        chain_form = QFormLayout(chain_box)
        chain_form.addRow("Chain URL", self.chain_edit)
        chain_form.addRow("Market address", self.market_edit)
        chain_form.addRow("Owner", self.owner_edit)
        chain_form.addRow("Location", self.location_edit)
        chain_form.addRow("Owner key file", self.owner_key_edit)
        chain_form.addRow("Operator key file", self.operator_key_edit)
        chain_form.addRow("", self.allow_anvil_check)
        reference = QGroupBox("Reference source (RMS)")
        ref_form = QFormLayout(reference)
        ref_form.addRow("Voltage", self.volts_spin)
        ref_form.addRow("Current", self.amps_spin)
        buttons = QHBoxLayout()
        for b in self._buttons():
            buttons.addWidget(b)
        layout = QVBoxLayout(self)
        layout.addWidget(meter_box)
        layout.addWidget(chain_box)
        layout.addWidget(reference)
        layout.addLayout(buttons)
        layout.addWidget(self.log, 1)

        self._done = _Done()
        self._done.sigLines.connect(self._finished)
        self._worker: threading.Thread | None = None
        self.info_button.clicked.connect(self.info)
        self.provision_button.clicked.connect(self.provision)
        self.register_button.clicked.connect(self.register)
        self.calibrate_button.clicked.connect(self.calibrate)
        self.last_ok: bool | None = None
        """Whether the last finished step succeeded (None before any)."""

    # -- the steps ---------------------------------------------------------------------
    def info(self) -> None:
        """Identity, firmware, calibration, key fingerprint and signing address."""
        keystore = self._keystore()
        self._run(
            "info",
            keystore,
            lambda m: info_lines(commissioning.read_info(m), m.url, keystore),
        )

    def provision(self) -> None:
        """Meter id, a fresh relay key into the keystore (0600), a fresh signing key, and
        with a chain URL the registration on chain. The meter's current key is the
        default one (a fresh board): re-provisioning a meter is the CLI's
        ``--current-keystore``."""
        keystore, meter_id = self._keystore(), self.id_edit.text().strip()
        if keystore is None or not meter_id:
            self._say(["provision needs a meter id and a keystore file to create"], False)
            return
        try:  # no chain URL: not registering
            target = self._target() if self.chain_edit.text().strip() else None
        except BenchError as exc:
            self._say([f"provision not started: {exc}"], False)
            return

        def step(m: FirmataMeter) -> list[str]:
            done = commissioning.provision(m, meter_id, keystore, timeout_s=self.timeout_s)
            lines = provision_lines(done, m.url)
            if target is not None:
                try:
                    lines.append(
                        register_meter(target, meter_id, done.signer_address, m.signed_reading)
                    )
                except BenchError as exc:
                    lines.append(
                        f"register failed: {exc}; the meter is provisioned: fix the chain "
                        "fields and press Register"
                    )
                    raise _StepFailed(lines) from exc
            lines.append(f'config: [[meters]] id = "{meter_id}", relay_key_file = "{keystore}"')
            return lines

        self._run("provision", None, step)

    def register(self) -> None:
        """Register a meter provisioned earlier (its id and signing address as it reports
        them) on the chain in the chain fields."""
        keystore = self._keystore()
        if keystore is None:
            self._say(["register needs the meter's relay keystore (provision first)"], False)
            return
        try:
            target = self._target()
        except BenchError as exc:
            self._say([f"register not started: {exc}"], False)
            return

        def step(m: FirmataMeter) -> list[str]:
            info = commissioning.read_info(m)
            if info.signer_address is None:
                raise _StepFailed(["register failed: the meter has no signing key: provision it"])
            meter_id = info.identity.meter_id
            return [register_meter(target, meter_id, info.signer_address, m.signed_reading)]

        self._run("register", keystore, step)

    def calibrate(self) -> None:
        """Gains from the reference, stored on the meter, then a check reading."""
        keystore = self._keystore()
        if keystore is None:
            self._say(["calibrate needs the meter's relay keystore (provision first)"], False)
            return
        volts, amps = self.volts_spin.value(), self.amps_spin.value()

        def step(m: FirmataMeter) -> list[str]:
            done = commissioning.calibrate(m, volts, amps, readings=3, interval_s=0.5)
            lines, ok = calibrate_lines(done, CHECK_TOLERANCE)
            if not ok:
                raise _StepFailed(lines)
            return lines

        self._run("calibrate", keystore, step)

    def busy(self) -> bool:
        """True while a step runs."""
        return self._worker is not None and self._worker.is_alive()

    # -- plumbing ----------------------------------------------------------------------
    def _keystore(self) -> Path | None:
        text = self.keystore_edit.text().strip()
        return Path(text) if text else None

    def _target(self) -> ChainTarget:
        """The chain fields; ConfigError saying what is missing."""

        def path(edit: QLineEdit) -> Path | None:
            text = edit.text().strip()
            return Path(text) if text else None

        target = ChainTarget(
            url=self.chain_edit.text().strip(),
            market=self.market_edit.text().strip(),
            owner=self.owner_edit.text().strip(),
            location=self.location_edit.text().strip(),
            owner_key_file=path(self.owner_key_edit),
            operator_key_file=path(self.operator_key_edit),
            allow_anvil_key=self.allow_anvil_check.isChecked(),
        )
        target.check()
        return target

    def _run(
        self, name: str, keystore: Path | None, step: Callable[[FirmataMeter], list[str]]
    ) -> None:
        port = self.port_edit.text().strip()
        if not port:
            self._say(["give the meter's port first"], False)
            return
        if self.busy():
            return
        self._set_buttons(False)
        self.log.appendPlainText(f"$ {name} on {port}")

        def work() -> None:
            try:
                key = wire.DEFAULT_KEY if keystore is None else read_key_file(keystore)
                with FirmataMeter.open(
                    port,
                    baud=DEFAULT_BAUD,
                    key=key,
                    reset_wait_s=self.reset_wait_s,
                    timeout_s=self.timeout_s,
                ) as meter:
                    lines = step(meter)
                self._done.sigLines.emit(lines, True)
            except _StepFailed as failed:
                self._done.sigLines.emit(failed.lines, False)
            except BenchError as exc:
                self._done.sigLines.emit([f"{name} failed: {exc}"], False)

        self._worker = threading.Thread(target=work, name=f"commission {name}", daemon=True)
        self._worker.start()

    def _finished(self, lines: list[str], ok: bool) -> None:
        self._say(lines, ok)
        self._set_buttons(True)

    def _say(self, lines: list[str], ok: bool) -> None:
        for line in lines:
            self.log.appendPlainText(line)
        self.last_ok = ok

    def _buttons(self) -> tuple[QPushButton, ...]:
        return (
            self.info_button,
            self.provision_button,
            self.register_button,
            self.calibrate_button,
        )

    def _set_buttons(self, enabled: bool) -> None:
        for b in self._buttons():
            b.setEnabled(enabled)


class _StepFailed(Exception):
    """A step's lines so far, ending with why it failed."""

    def __init__(self, lines: list[str]) -> None:
        super().__init__(lines[-1])
        self.lines = lines


def _spin(value: float, low: float, high: float, suffix: str) -> QDoubleSpinBox:
    spin = QDoubleSpinBox()
    spin.setRange(low, high)
    spin.setDecimals(3)
    spin.setValue(value)
    spin.setSuffix(suffix)
    return spin
