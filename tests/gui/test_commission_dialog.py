"""The panel's commissioning dialog on a fresh firmware meter in simavr: info, provision
(keystore 0600, a signing address), calibrate (a front end 6 % high in voltage and 5 %
low in current reads the reference after), info again; a screenshot of the result."""

from __future__ import annotations

import socket
import stat
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from PyQt6.QtWidgets import QApplication

from bench.devices.keystore import read_key_file
from bench.firmware import SimMeter
from gui.commission_dialog import CommissionDialog
from tests.firmware import sim_meters

pytestmark = [pytest.mark.gui, pytest.mark.firmware]


@pytest.fixture
def fresh_meter(tmp_path: Path) -> Iterator[SimMeter]:
    """A fresh meter (tests.firmware.sim_meters), its relay open."""
    images = sim_meters.firmware_images_or_skip()
    with sim_meters.fresh_meter(images, tmp_path / "eeprom.bin") as sim:
        yield sim


def finish(app: QApplication, dialog: CommissionDialog, timeout_s: float = 120.0) -> str:
    deadline = time.monotonic() + timeout_s
    app.processEvents()
    while dialog.busy() or not dialog.info_button.isEnabled():
        assert time.monotonic() < deadline, dialog.log.toPlainText()
        app.processEvents()
        time.sleep(0.02)
    app.processEvents()
    return dialog.log.toPlainText()


def test_a_fresh_meter_is_commissioned_from_the_dialog(
    qapp: QApplication, fresh_meter: SimMeter, tmp_path: Path
) -> None:
    dialog = CommissionDialog(reset_wait_s=0.0, timeout_s=30.0)
    dialog.show()
    dialog.port_edit.setText(fresh_meter.pty_path)
    dialog.info_button.click()
    log = finish(qapp, dialog)
    assert dialog.last_ok and "meter meter on" in log
    assert "relay key: default (all zero)" in log

    keystore = tmp_path / "keys" / "lab-7.key"
    dialog.id_edit.setText("lab-7")
    dialog.keystore_edit.setText(str(keystore))
    dialog.provision_button.click()
    log = finish(qapp, dialog)
    assert dialog.last_ok, log
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert "meter id: meter -> lab-7" in log and "signing address: 0x" in log
    assert read_key_file(keystore).hex() not in log  # fingerprints only

    dialog.volts_spin.setValue(230.0)
    dialog.amps_spin.setValue(5.0)
    dialog.calibrate_button.click()
    log = finish(qapp, dialog)
    assert dialog.last_ok, log
    check = next(line for line in log.splitlines() if line.startswith("check:"))

    dialog.info_button.click()
    log = finish(qapp, dialog)
    assert "meter lab-7 on" in log and "calibrated" in log
    assert "relay key: provisioned; keystore" in log
    shot = tmp_path / "commission_dialog.png"
    assert dialog.grab().save(str(shot))
    assert shot.stat().st_size > 10_000
    dialog.grab().save("/tmp/commission_dialog.png")
    print(check)


def test_a_step_that_fails_says_why_and_keeps_the_dialog_usable(
    qapp: QApplication, tmp_path: Path
) -> None:
    dialog = CommissionDialog(reset_wait_s=0.0)
    dialog.port_edit.setText(str(tmp_path / "no-such-port"))
    dialog.info_button.click()
    log = finish(qapp, dialog)
    assert dialog.last_ok is False and "info failed: cannot open meter port" in log
    dialog.provision_button.click()  # no id, no keystore: refused before opening
    assert "provision needs a meter id" in dialog.log.toPlainText()
    dialog.id_edit.setText("lab-1")
    dialog.keystore_edit.setText(str(tmp_path / "lab-1.key"))
    dialog.chain_edit.setText("http://127.0.0.1:8545")  # no market, no owner: refused first
    dialog.provision_button.click()
    log = dialog.log.toPlainText()
    assert "provision not started: registering on chain needs" in log and "owner" in log
    assert not (tmp_path / "lab-1.key").exists()


def test_the_panel_opens_the_dialog_from_its_meters_menu(
    qapp: QApplication, tmp_path: Path
) -> None:
    from PyQt6.QtCore import QSettings

    from gui.panel import PanelWindow

    settings = QSettings(str(tmp_path / "panel.ini"), QSettings.Format.IniFormat)
    window = PanelWindow(settings=settings, runs_dir=tmp_path / "runs")
    try:
        bar = window.menuBar()
        assert bar is not None
        menus = [a.text() for a in bar.actions()]
        assert "&Meters" in menus
        window.commission_action.trigger()
        dialog = window.commission_dialog
        assert dialog is not None and dialog.isVisible()
        assert window.open_commissioning() is dialog  # one per panel
    finally:
        window.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.chain
def test_the_dialog_provisions_and_registers_the_meter_on_chain(
    qapp: QApplication, fresh_meter: SimMeter, tmp_path: Path
) -> None:
    from eth_account import Account

    from bench.chain import Anvil, Market
    from bench.chain.keys import KeyRing, save_key

    owner_key = save_key(Account.create(), tmp_path / "keys" / "owner.json")
    with Anvil() as node:
        market = Market.deploy(node.url, keys=KeyRing({"lab": owner_key}), allow_anvil_key=True)
        market.add_participants(["lab"], 10**12, register_meters=False)
        dialog = CommissionDialog(reset_wait_s=0.0, timeout_s=30.0)
        dialog.show()
        dialog.port_edit.setText(fresh_meter.pty_path)
        dialog.id_edit.setText("lab-8")
        dialog.keystore_edit.setText(str(tmp_path / "keys" / "lab-8.key"))
        dialog.chain_edit.setText(node.url)
        dialog.market_edit.setText(market.address)
        dialog.owner_edit.setText("lab")
        dialog.location_edit.setText("bench 3")
        dialog.owner_key_edit.setText(str(owner_key))
        dialog.allow_anvil_check.setChecked(True)
        dialog.provision_button.click()
        log = finish(qapp, dialog)
        assert dialog.last_ok, log
        assert f"registered on {market.address}: owner lab, meter-signed" in log
        address = log.split("signing address: ")[1].split()[0]
        # the oracle: the registry as a fresh attach reads it, not the dialog's market
        registry = Market.attach(node.url, market.address, allow_anvil_key=True).registry
        assert registry.signer("lab-8") == address
        assert registry.attestation("lab-8") == "meter-signed"
        owner = market.contract.functions.meterOwner(b"lab-8".ljust(32, b"\0")).call()
        assert owner == market.accounts.wallet("lab").address

        dialog.register_button.click()  # again: already so registered, a no-op
        log = finish(qapp, dialog)
        assert dialog.last_ok, log
        assert registry.signer("lab-8") == address

        dialog.market_edit.setText(market.token_address)  # the token's, not the market's
        dialog.register_button.click()
        log = finish(qapp, dialog)
        assert dialog.last_ok is False
        assert log.splitlines()[-1].startswith("register failed: the contract at")
        assert "give the market's address" in log and "Traceback" not in log
        dialog.market_edit.setText(market.address)
        shot = tmp_path / "commission_dialog_chain.png"
        assert dialog.grab().save(str(shot))
        dialog.grab().save("/tmp/commission_dialog_chain.png")


def test_a_dead_chain_is_reported_after_provisioning_with_what_to_do(
    qapp: QApplication, fresh_meter: SimMeter, tmp_path: Path
) -> None:
    dialog = CommissionDialog(reset_wait_s=0.0, timeout_s=30.0)
    dialog.port_edit.setText(fresh_meter.pty_path)
    dialog.id_edit.setText("lab-9")
    dialog.keystore_edit.setText(str(tmp_path / "lab-9.key"))
    dialog.chain_edit.setText(f"http://127.0.0.1:{_free_port()}")
    dialog.market_edit.setText("0x" + "11" * 20)
    dialog.owner_edit.setText("lab")
    dialog.allow_anvil_check.setChecked(True)
    started = time.monotonic()
    dialog.provision_button.click()
    log = finish(qapp, dialog)
    print(f"dead chain reported after {time.monotonic() - started:.1f} s")
    assert dialog.last_ok is False, log
    assert "signing address: 0x" in log  # the provision itself went through
    assert "register failed:" in log and "press Register" in log
    assert "Traceback" not in log
    assert dialog.register_button.isEnabled()
