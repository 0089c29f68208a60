"""Issue 14 item 3: a fresh firmware meter in simavr goes through ``gridbench meter
provision`` → ``calibrate`` → a short run of the rig on its keystore key, as a lab would
commission a real board (the simavr pty stands in for the board's port)."""

from __future__ import annotations

import queue
import stat
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from bench.config import BenchConfig, MeterConfig
from bench.devices import MeterOutage, Reading
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.keystore import fingerprint, read_key_file
from bench.errors import DeviceError
from bench.firmware import SimMeter
from bench.rig import Rig
from gridbench.cli import main
from tests.firmware import sim_meters

pytestmark = pytest.mark.firmware

TIMEOUT = ["--reset-wait", "0", "--timeout", "30"]  # simulated as fast as the machine can


@pytest.fixture
def fresh_meter(firmware_images: tuple[Path, Path], tmp_path: Path) -> Iterator[SimMeter]:
    """A fresh meter (tests.firmware.sim_meters) with the reference current flowing."""
    with sim_meters.fresh_meter(firmware_images, tmp_path / "eeprom.bin", relay_closed=True) as sim:
        yield sim


def _readings(rig: Rig, meter_id: str, n: int) -> list[Any]:
    out: queue.Queue[Any] = queue.Queue()
    got: list[Any] = []
    with rig.poller(meter_id, out) as poller:
        deadline = time.monotonic() + 60
        while len([r for r in got if isinstance(r, Reading)]) < n and time.monotonic() < deadline:
            try:
                got.append(out.get(timeout=0.1))
            except queue.Empty:
                continue
            if isinstance(got[-1], MeterOutage):
                break
        if any(isinstance(r, Reading) for r in got):
            poller.set_relay(False).result(timeout=30)  # the keystore key switches it
    return got


def test_a_fresh_simavr_meter_is_provisioned_calibrated_and_run(
    fresh_meter: SimMeter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = fresh_meter.pty_path
    keystore = tmp_path / "keys" / "lab-1.key"

    assert main(["meter", "info", "--port", port, *TIMEOUT]) == 0
    info = capsys.readouterr().out
    assert "meter meter on" in info and "relay key: default (all zero)" in info

    assert main(
        ["meter", "provision", "--port", port, "--id", "lab-1", "--keystore", str(keystore),
         *TIMEOUT]
    ) == 0  # fmt: skip
    provisioned = capsys.readouterr().out
    key = read_key_file(keystore)
    assert stat.S_IMODE(keystore.stat().st_mode) == 0o600
    assert key.hex() not in provisioned and fingerprint(key) in provisioned  # never printed
    address = provisioned.split("signing address: ")[1].split()[0]
    with FirmataMeter.open(port, key=key, timeout_s=30.0) as m:
        ident = m.identity()
        assert (ident.meter_id, ident.key_provisioned, ident.signing_key) == ("lab-1", True, True)
        assert m.signer_address() == address
        signed = m.signed_reading()  # Python's secp256k1 recovers the provisioned address
        assert signed.signer_address() == address
    with FirmataMeter.open(port, timeout_s=30.0) as m, pytest.raises(DeviceError):
        m.set_relay(False)  # the all-zero key no longer commands the meter

    assert main(
        ["meter", "calibrate", "--port", port, "--keystore", str(keystore), "--volts", "230",
         "--amps", "5", "--readings", "3", "--interval", "0.3", *TIMEOUT]
    ) == 0  # fmt: skip
    calibrated = capsys.readouterr().out
    assert "check: " in calibrated
    with FirmataMeter.open(port, key=key, timeout_s=30.0) as m:
        time.sleep(0.5)
        r = m.read()  # the independent check: the truth is the injected waveform
        assert r.voltage_v == pytest.approx(230.0, rel=0.005)
        assert r.current_a == pytest.approx(5.0, rel=0.005)
        assert m.identity().calibrated

    config = MeterConfig("lab-1", kind="firmata", port=port, relay_key_file=keystore)
    with Rig(BenchConfig(meters=(config,), reset_wait_s=0.0)) as rig:
        got = _readings(rig, "lab-1", n=3)
    readings = [r for r in got if isinstance(r, Reading)]
    assert len(readings) == 3, got
    assert all(r.meter_id == "lab-1" for r in readings)
    assert readings[-1].power_w == pytest.approx(1150.0, rel=0.01)
    with FirmataMeter.open(port, key=key, timeout_s=30.0) as m:
        assert m.read().relay_closed is False


def test_the_rig_refuses_a_board_on_the_default_key_and_says_how_to_provision(
    fresh_meter: SimMeter,
) -> None:
    config = MeterConfig("meter", kind="firmata", port=fresh_meter.pty_path)
    with Rig(BenchConfig(meters=(config,), reset_wait_s=0.0)) as rig:
        got = _readings(rig, "meter", n=1)
    outages = [e for e in got if isinstance(e, MeterOutage)]
    assert outages and "gridbench meter provision" in outages[0].reason
    assert not any(isinstance(e, Reading) for e in got)
    allowed = replace(config, allow_default_key=True)  # a demo bench may say so
    with Rig(BenchConfig(meters=(allowed,), reset_wait_s=0.0)) as rig:
        assert any(isinstance(e, Reading) for e in _readings(rig, "meter", n=1))


@pytest.mark.chain
@pytest.mark.slow
def test_provision_registers_the_meter_signed_meter_on_chain(
    fresh_meter: SimMeter, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from eth_account import Account

    from bench.chain import Anvil, Market
    from bench.chain.keys import KeyRing, save_key

    owner_key = save_key(Account.create(), tmp_path / "owner.json")
    with Anvil() as node:
        market = Market.deploy(node.url, keys=KeyRing({"lab": owner_key}), allow_anvil_key=True)
        market.add_participants(["lab"], 10**12, register_meters=False)
        assert main(
            ["meter", "provision", "--port", fresh_meter.pty_path, "--id", "lab-1",
             "--keystore", str(tmp_path / "lab-1.key"), "--chain", node.url,
             "--market", market.address, "--owner", "lab", "--owner-key-file", str(owner_key),
             "--location", "bench 3", "--allow-anvil-key", *TIMEOUT]
        ) == 0  # fmt: skip
        out = capsys.readouterr().out
        address = out.split("signing address: ")[1].split()[0]
        registry = Market.attach(node.url, market.address, allow_anvil_key=True).registry
        assert registry.signer("lab-1") == address
        assert registry.attestation("lab-1") == "meter-signed"
        owner = market.contract.functions.meterOwner(b"lab-1".ljust(32, b"\0")).call()
        assert owner == market.accounts.wallet("lab").address


def test_provision_with_a_chain_but_no_owner_is_refused_before_the_meter_is_touched(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    keystore = tmp_path / "lab-1.key"
    code = main(
        ["meter", "provision", "--port", str(tmp_path / "no-such-port"), "--id", "lab-1",
         "--keystore", str(keystore), "--chain", "http://127.0.0.1:8545",
         "--market", "0x" + "11" * 20, *TIMEOUT]
    )  # fmt: skip
    err = capsys.readouterr().err
    assert code == 2 and "owner's participant name (--owner)" in err
    assert "cannot open" not in err and not keystore.exists()
