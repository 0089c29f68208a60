"""Authenticated relay on the firmware in simavr: the relay pin is the judge."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from bench.devices import wire
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.wire import AuthCmd, Cmd, ErrorCode, MeterRefusedError
from bench.firmware import Waveform
from bench.transport import firmata
from bench.transport.firmata import Sysex
from tests.firmware.sim_meters import SimFactory

pytestmark = pytest.mark.firmware

KEY = bytes(range(1, 33))


def send_auth(meter: FirmataMeter, payload: bytes, timeout_s: float = 2.0) -> Sysex:
    """Send a raw AUTH payload; return the meter's ack or error frame."""
    meter.link.send(firmata.sysex(Cmd.AUTH, payload))
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for msg in meter.link.receive(0.05):
            if isinstance(msg, Sysex) and msg.command in (Cmd.AUTH, Cmd.ERROR):
                return msg
    raise AssertionError("no answer to AUTH")


def error_code(msg: Sysex) -> int | None:
    err = wire.decode_error(msg.payload) if msg.command == Cmd.ERROR else None
    return None if err is None else err.code


def test_valid_unlock_switches_the_relay_pin(sim_meter_factory: SimFactory) -> None:
    sim, meter = sim_meter_factory(speed=2.0)
    assert sim.wait_relay(True)  # closed at first boot
    meter.set_relay(False)
    assert sim.wait_relay(False)
    assert not meter.read().relay_closed
    meter.set_relay(True)
    assert sim.wait_relay(True)


def test_replayed_nonce_is_refused(sim_meter_factory: SimFactory) -> None:
    sim, meter = sim_meter_factory(speed=2.0)
    payload = wire.encode_auth(wire.DEFAULT_KEY, meter.challenge(), AuthCmd.RELAY, b"\x00")
    assert send_auth(meter, payload).payload == bytes((AuthCmd.RELAY, 0))
    assert sim.wait_relay(False)
    assert error_code(send_auth(meter, payload)) == ErrorCode.NO_CHALLENGE  # nonce used up
    meter.challenge()  # a new nonce is pending: the old tag does not match it
    assert error_code(send_auth(meter, payload)) == ErrorCode.BAD_TAG
    assert sim.wait_relay(False, timeout_s=0.5)


def test_forged_tag_and_wrong_key_refused_then_lockout(sim_meter_factory: SimFactory) -> None:
    sim, meter = sim_meter_factory(speed=2.0)
    forged = wire.encode_auth(wire.DEFAULT_KEY, meter.challenge(), AuthCmd.RELAY, b"\x00")
    forged = forged[:-1] + bytes(((forged[-1] ^ 1) & 0x7F,))
    assert error_code(send_auth(meter, forged)) == ErrorCode.BAD_TAG
    wrong = wire.encode_auth(KEY, meter.challenge(), AuthCmd.RELAY, b"\x00")
    assert error_code(send_auth(meter, wrong)) == ErrorCode.BAD_TAG
    wrong = wire.encode_auth(KEY, meter.challenge(), AuthCmd.RELAY, b"\x00")
    assert error_code(send_auth(meter, wrong)) == ErrorCode.BAD_TAG  # 3rd: locked out 1 s
    with pytest.raises(MeterRefusedError) as refused:
        meter.challenge()
    assert refused.value.code == ErrorCode.LOCKED_OUT
    assert meter.read().locked_out
    assert sim.relay_closed is True
    time.sleep(1.2 / 2.0)  # the lockout counts simulated time
    meter.set_relay(False)  # the right key still works afterwards
    assert sim.wait_relay(False)


def test_reset_keeps_energy_counter_key_and_relay(sim_meter_factory: SimFactory) -> None:
    sim, meter = sim_meter_factory(speed=3.0)
    sim.set_waveform(Waveform(v_rms=230, i_rms=10))
    meter.set_key(KEY)
    meter.set_meter_id("sim-reset")
    time.sleep(2.5 / 3.0)
    before = meter.read()
    assert before.energy_import_wh > 0.2
    boot = meter.identity().boot_count
    meter.set_relay(False)
    sim.reset()
    meter.handshake()
    ident = meter.identity()
    assert ident.boot_count == boot + 1
    assert ident.key_provisioned and ident.meter_id == "sim-reset"
    after = meter.read()
    assert after.energy_import_wh >= before.energy_import_wh
    assert not after.relay_closed and sim.wait_relay(False)
    meter.set_relay(True)  # authenticated with the provisioned key
    assert sim.wait_relay(True)
    stale = wire.encode_auth(wire.DEFAULT_KEY, meter.challenge(), AuthCmd.RELAY, b"\x00")
    assert error_code(send_auth(meter, stale)) == ErrorCode.BAD_TAG


def test_power_cycle_keeps_counter_and_key(sim_meter_factory: SimFactory, tmp_path: Path) -> None:
    eeprom = tmp_path / "meter.eeprom"
    sim, meter = sim_meter_factory(speed=3.0, eeprom=eeprom)
    sim.set_waveform(Waveform(v_rms=230, i_rms=10))
    meter.set_key(KEY)
    time.sleep(2.5 / 3.0)
    before = meter.read()
    boot = meter.identity().boot_count
    meter.close()
    sim.close()  # the runner writes its EEPROM file when it stops
    sim2, meter2 = sim_meter_factory(speed=3.0, eeprom=eeprom)
    assert meter2.identity().boot_count == boot + 1
    assert meter2.identity().key_provisioned
    assert meter2.read().energy_import_wh >= before.energy_import_wh > 0.2
    with pytest.raises(MeterRefusedError):
        meter2.set_relay(False)  # the bench still holds the default key
    assert sim2.relay_closed is True
