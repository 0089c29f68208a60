"""Meter protocol conformance: the same tests for every meter kind (see conftest.py)."""

from __future__ import annotations

import itertools
import time

import pytest

from bench.devices import Calibration, FirmataMeter, MeterRefusedError, Reading
from bench.devices.wire import ErrorCode
from bench.transport import firmata as fm

from .kinds import MeterUnderTest

needs = pytest.mark.needs


def skip_export(m: MeterUnderTest, power_w: float) -> None:
    """Skip a negative power on a meter that measures magnitudes only."""
    if power_w < 0 and "export" in m.lacks:
        pytest.skip(f"this meter lacks export: {m.why_not}")


def settle(m: MeterUnderTest, power_w: float) -> Reading:
    assert m.truth is not None
    m.truth.set_power(power_w)
    return m.driver.read()


def test_identity(meter: MeterUnderTest) -> None:
    ident = meter.driver.identity()
    assert 1 <= len(ident.meter_id) <= 16
    assert ident.protocol_version[0] == 1 or "wire" not in meter.caps
    assert meter.driver.identity(refresh=True).meter_id == ident.meter_id


def test_reading_units_and_plausibility(meter: MeterUnderTest) -> None:
    r = meter.driver.read()
    assert r.meter_id == meter.driver.identity().meter_id
    assert 0 < r.voltage_v < 500
    assert r.current_a >= 0
    assert -1 <= r.power_factor <= 1
    assert r.energy_import_wh >= 0 and r.energy_export_wh >= 0


@needs("truth")
@pytest.mark.parametrize("power_w", [1000.0, 2500.0, -1500.0, 0.0])
def test_power_matches_truth_with_sign_convention(meter: MeterUnderTest, power_w: float) -> None:
    skip_export(meter, power_w)
    r = settle(meter, power_w)
    assert r.power_w == pytest.approx(power_w, rel=0.01, abs=0.5)
    assert r.voltage_v == pytest.approx(230.0, rel=0.01)
    if power_w:
        assert r.current_a == pytest.approx(abs(power_w) / 230.0, rel=0.01)
        assert (r.power_factor > 0) == (power_w > 0)


@needs("truth")
@pytest.mark.parametrize("power_w", [3600.0, -3600.0])
def test_counters_integrate_power_in_the_right_direction(
    meter: MeterUnderTest, power_w: float
) -> None:
    skip_export(meter, power_w)
    r1 = settle(meter, power_w)
    time.sleep(meter.integrate_s)
    r2 = meter.driver.read()
    d_imp = r2.energy_import_wh - r1.energy_import_wh
    d_exp = r2.energy_export_wh - r1.energy_export_wh
    expected = abs(power_w) * (r2.t_s - r1.t_s) / 3600
    moved, still = (d_imp, d_exp) if power_w > 0 else (d_exp, d_imp)
    assert moved == pytest.approx(expected, rel=0.05, abs=max(0.01, meter.energy_resolution_wh))
    assert still == 0


@needs("truth")
def test_counters_are_monotonic_and_match_truth(meter: MeterUnderTest) -> None:
    assert meter.truth is not None
    last = settle(meter, 2000.0)
    for p in (-800.0, 1200.0, -3000.0, 500.0):
        meter.truth.set_power(p)
        time.sleep(0.05)
        r = meter.driver.read()
        assert r.energy_import_wh >= last.energy_import_wh
        assert r.energy_export_wh >= last.energy_export_wh
        last = r
    imp, exp = meter.truth.energy_wh()
    tolerance_wh = max(0.05, meter.energy_resolution_wh)
    assert last.energy_import_wh == pytest.approx(imp, abs=tolerance_wh)
    assert last.energy_export_wh == pytest.approx(exp, abs=tolerance_wh)


@needs("truth", "relay")
def test_relay_opens_and_closes(meter: MeterUnderTest) -> None:
    assert meter.truth is not None
    settle(meter, 1500.0)
    meter.driver.set_relay(False)
    assert meter.truth.relay_closed is False
    r1 = meter.driver.read()
    assert r1.relay_closed is False and r1.power_w == 0 and r1.current_a == 0
    assert r1.voltage_v > 0
    time.sleep(0.2)
    r2 = meter.driver.read()
    assert r2.energy_import_wh == r1.energy_import_wh
    meter.driver.set_relay(True)
    assert meter.truth.relay_closed is True
    r3 = meter.driver.read()
    assert r3.relay_closed is True and r3.power_w == pytest.approx(1500.0, rel=0.01)


def test_stream_delivers_consecutive_readings(meter: MeterUnderTest) -> None:
    d = meter.driver
    d.start_stream(0.05)
    got: list[Reading] = []
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        got += d.next_readings(0.1)
    d.stop_stream()
    assert 14 <= len(got) <= 22
    assert all(b.seq == a.seq + 1 for a, b in itertools.pairwise(got))
    time.sleep(0.15)
    d.next_readings(0.05)
    assert d.next_readings(0.2) == []


@needs("calibration")
def test_calibration_round_trip(meter: MeterUnderTest) -> None:
    d = meter.driver
    cal = d.calibration()
    assert cal.v_gain_uv_per_count > 0 and cal.i_gain_ua_per_count > 0
    v1 = d.read().voltage_v
    doubled = Calibration(
        cal.v_gain_uv_per_count * 2,
        cal.i_gain_ua_per_count,
        cal.v_offset_counts,
        cal.i_offset_counts,
        cal.phase_cdeg,
    )
    d.set_calibration(doubled)
    try:
        assert d.calibration() == doubled
        assert d.read().voltage_v == pytest.approx(2 * v1, rel=0.02)
    finally:
        d.set_calibration(cal)
    assert d.calibration() == cal


@needs("wire")
def test_wrong_key_is_refused_then_locked_out(meter: MeterUnderTest) -> None:
    d = meter.driver
    assert isinstance(d, FirmataMeter)
    liar = FirmataMeter(d.link, key=b"\x42" * 32, timeout_s=0.5)
    liar.identity()
    for failures in (1, 2, 3):
        with pytest.raises(MeterRefusedError) as exc:
            liar.set_relay(True)
        assert exc.value.code == ErrorCode.BAD_TAG and exc.value.detail == failures
    with pytest.raises(MeterRefusedError) as exc:
        d.set_relay(True)
    assert exc.value.code == ErrorCode.LOCKED_OUT and exc.value.detail >= 1
    assert "wait" in str(exc.value)
    time.sleep(1.1)
    d.set_relay(True)  # the right key works once the lockout is over


@needs("wire")
def test_nonce_is_single_use(meter: MeterUnderTest) -> None:
    from bench.devices import wire

    d = meter.driver
    assert isinstance(d, FirmataMeter)
    nonce = d.challenge()
    frame = fm.sysex(wire.Cmd.AUTH, wire.encode_auth(meter.key, nonce, wire.AuthCmd.RELAY, b"\x01"))
    d.link.send(frame)
    d.link.send(frame)  # replay
    replies: list[fm.Message] = []
    deadline = time.monotonic() + 1.0
    while len([m for m in replies if isinstance(m, fm.Sysex)]) < 2 and time.monotonic() < deadline:
        replies += d.link.receive(0.1)
    sysex = [m for m in replies if isinstance(m, fm.Sysex) and m.command in (0x06, 0x0F)]
    assert sysex[0] == fm.Sysex(0x06, bytes((0x01, 0x00)))
    assert sysex[1].command == 0x0F and sysex[1].payload[0] == ErrorCode.NO_CHALLENGE


@needs("wire")
def test_key_rotation(meter: MeterUnderTest) -> None:
    d = meter.driver
    assert isinstance(d, FirmataMeter)
    new = bytes(range(1, 33))
    d.set_key(new)
    try:
        assert d.identity(refresh=True).key_provisioned
        stale = FirmataMeter(d.link, key=meter.key)
        with pytest.raises(MeterRefusedError):
            stale.set_relay(True)
        d.set_relay(True)
    finally:
        d.set_key(meter.key)
    assert d.identity(refresh=True).key_provisioned == (meter.key != bytes(32))


@needs("wire")
def test_unknown_command_gets_an_error_reply(meter: MeterUnderTest) -> None:
    d = meter.driver
    assert isinstance(d, FirmataMeter)
    d.link.send(fm.sysex(0x0A))
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        for m in d.link.receive(0.1):
            if isinstance(m, fm.Sysex) and m.command == 0x0F:
                assert m.payload[:2] == bytes((ErrorCode.UNKNOWN_COMMAND, 0x0A))
                return
    pytest.fail("no ERROR reply to an unknown meter command")


@needs("truth", "reboot")
def test_reboot_keeps_counters_and_counts_boots(meter: MeterUnderTest) -> None:
    assert meter.reboot is not None and meter.truth is not None
    d = meter.driver
    settle(meter, 3600.0)
    time.sleep(0.2)
    before = d.read()
    meter.reboot()
    time.sleep(0.1)
    after = d.read()
    assert after.boot_count == before.boot_count + 1
    assert after.seq < before.seq + 3
    assert after.energy_import_wh >= before.energy_import_wh
    assert d.identity().boot_count == after.boot_count


# -- meter-signed readings (PROTOCOL.md §5.10-§5.12) --------------------------------
@needs("signing")
def test_signed_reading_verifies_and_signs_the_counters(meter: MeterUnderTest) -> None:
    from bench.attestation import meter_id_bytes32

    d = meter.driver
    assert isinstance(d, FirmataMeter)
    address = d.signer_address()
    before = d.read()
    signed = d.signed_reading()
    after = d.read()
    assert signed.signer_address() == address  # the driver checked too; recheck
    assert signed.meter_id == meter_id_bytes32(d.identity().meter_id)
    assert int(before.energy_import_wh) <= signed.import_wh <= int(after.energy_import_wh)
    assert int(before.energy_export_wh) <= signed.export_wh <= int(after.energy_export_wh)


@needs("signing", "wire")
def test_a_tampered_signed_reply_does_not_verify(meter: MeterUnderTest) -> None:
    from bench.attestation import meter_id_bytes32
    from bench.devices import wire

    d = meter.driver
    assert isinstance(d, FirmataMeter)
    address = d.signer_address()
    d.link.send(fm.sysex(wire.Cmd.SIGNED_READING))
    reply = _await_sysex(d, wire.Cmd.SIGNED_READING, 5.0)
    meter_id = meter_id_bytes32(d.identity().meter_id)
    genuine = wire.decode_signed_reading(reply, meter_id)
    assert genuine is not None and genuine.signer_address() == address
    tampered = bytearray(reply)
    tampered[5] ^= 0x01  # import_wh + 1 Wh
    forged = wire.decode_signed_reading(bytes(tampered), meter_id)
    assert forged is not None and forged.import_wh == genuine.import_wh ^ 1
    assert forged.signer_address() != address


@needs("signing", "reboot")
def test_signed_seq_increases_and_address_holds_across_a_reboot(meter: MeterUnderTest) -> None:
    assert meter.reboot is not None
    d = meter.driver
    assert isinstance(d, FirmataMeter)
    address = d.signer_address()
    s1, s2 = d.signed_reading(), d.signed_reading()
    meter.reboot()
    time.sleep(0.2)
    assert d.signer_address(refresh=True) == address
    s3 = d.signed_reading()
    assert s1.seq < s2.seq < s3.seq
    assert s1.time_s <= s2.time_s <= s3.time_s


@needs("signing", "wire")
def test_new_signing_key_changes_the_address(meter: MeterUnderTest) -> None:
    d = meter.driver
    assert isinstance(d, FirmataMeter)
    old = d.signer_address()
    seq = d.signed_reading().seq
    new = d.new_signing_key()
    assert new != old and d.signer_address(refresh=True) == new
    signed = d.signed_reading()
    assert signed.signer_address() == new and signed.seq > seq
    assert d.identity(refresh=True).signing_key


def _await_sysex(d: FirmataMeter, command: int, timeout_s: float) -> bytes:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for m in d.link.receive(0.1):
            if isinstance(m, fm.Sysex) and m.command == command:
                return m.payload
    pytest.fail(f"no sysex {command:02x} reply within {timeout_s} s")


# -- settled ambiguities: every kind must answer these identically ------------------
def _hmac_auth(key: bytes, nonce: bytes, cmd: int, args: bytes) -> bytes:
    """An AUTH frame built from §5.6 with hmac/hashlib, not the bench's encoder."""
    import hashlib
    import hmac

    msg = bytes((0x06, cmd)) + args
    tag = hmac.new(key, nonce + msg, hashlib.sha256).digest()[:16]
    return b"\xf0" + msg + b"".join(bytes((b & 0x7F, b >> 7)) for b in tag) + b"\xf7"


def _exchange(d: FirmataMeter, frame: bytes, timeout_s: float = 1.0) -> fm.Sysex | None:
    """Send ``frame``; the first meter reply (AUTH ack, ERROR, PIN_STATE) or None."""
    d.link.send(frame)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        for m in d.link.receive(0.05):
            if isinstance(m, fm.Sysex) and m.command in (0x06, 0x0F, fm.PIN_STATE_RESPONSE):
                return m
    return None


def _wire(meter: MeterUnderTest) -> FirmataMeter:
    d = meter.driver
    assert isinstance(d, FirmataMeter)
    d.stop_stream()
    return d


ACK_RELAY = fm.Sysex(0x06, bytes((0x01, 0x00)))


def _error(code: int, detail: int = 0) -> fm.Sysex:
    return fm.Sysex(0x0F, bytes((code, 0x06, detail & 0x7F, detail >> 7)))


@needs("wire")
def test_an_auth_tagged_with_hmac_sha256_is_accepted(meter: MeterUnderTest) -> None:
    d = _wire(meter)
    assert _exchange(d, _hmac_auth(meter.key, d.challenge(), 0x01, b"\x01")) == ACK_RELAY


@needs("wire")
def test_errors_after_the_tag_name_the_sysex_and_count_the_whole_payload(
    meter: MeterUnderTest,
) -> None:
    d = _wire(meter)
    got = _exchange(d, _hmac_auth(meter.key, d.challenge(), 0x09, b""))
    assert got == _error(ErrorCode.UNKNOWN_COMMAND)
    got = _exchange(d, _hmac_auth(meter.key, d.challenge(), 0x01, b"\x01\x01"))
    assert got == _error(ErrorCode.BAD_LENGTH, 1 + 2 + 32)


@needs("wire")
def test_a_nonce_outlives_a_short_auth_and_dies_at_the_tag_check(meter: MeterUnderTest) -> None:
    d = _wire(meter)
    nonce = d.challenge()
    assert _exchange(d, bytes.fromhex("f0 06 01 01 f7")) == _error(ErrorCode.BAD_LENGTH, 2)
    assert _exchange(d, _hmac_auth(meter.key, nonce, 0x01, b"\x01")) == ACK_RELAY
    nonce = d.challenge()
    wrong = bytes(b ^ 0x5A for b in meter.key)
    assert _exchange(d, _hmac_auth(wrong, nonce, 0x01, b"\x01")) == _error(ErrorCode.BAD_TAG, 1)
    got = _exchange(d, _hmac_auth(meter.key, nonce, 0x01, b"\x01"))
    assert got == _error(ErrorCode.NO_CHALLENGE)
    d.set_relay(True)  # a success resets the failure counter


@needs("wire")
def test_system_reset_discards_the_pending_nonce(meter: MeterUnderTest) -> None:
    d = _wire(meter)
    nonce = d.challenge()
    d.link.send(bytes((fm.SYSTEM_RESET,)))
    got = _exchange(d, _hmac_auth(meter.key, nonce, 0x01, b"\x01"))
    assert got == _error(ErrorCode.NO_CHALLENGE)


@needs("wire")
def test_an_empty_meter_id_is_a_bad_value(meter: MeterUnderTest) -> None:
    d = _wire(meter)
    got = _exchange(d, _hmac_auth(meter.key, d.challenge(), 0x03, b""))
    assert got == _error(ErrorCode.BAD_VALUE, 1)


@needs("wire")
def test_non_canonical_septets_are_rejected(meter: MeterUnderTest) -> None:
    d = _wire(meter)
    good = _hmac_auth(meter.key, d.challenge(), 0x01, b"\x01")
    msb = next(i for i in range(5, 37, 2) if good[i] == 0)
    bent = good[:msb] + b"\x02" + good[msb + 1 :]  # the same tag bits after "& 1"
    assert _exchange(d, bent) == _error(ErrorCode.BAD_TAG, 1)
    key_args = bytearray(b"".join(bytes((b & 0x7F, b >> 7)) for b in bytes(range(1, 33))))
    key_args[1] = 0x03
    got = _exchange(d, _hmac_auth(meter.key, d.challenge(), 0x04, bytes(key_args)))
    assert got == _error(ErrorCode.BAD_VALUE, 1)
    d.set_relay(True)  # the key is unchanged; the failure counter is reset


@needs("wire")
def test_pin_state_query_answers_as_standard_firmata(meter: MeterUnderTest) -> None:
    d = _wire(meter)
    d.link.send(bytes.fromhex("f4 03 01 f5 03 01 f4 02 0b"))  # pin 3 OUTPUT high, 2 PULLUP

    def state(pin: int) -> bytes | None:
        got = _exchange(d, bytes((0xF0, fm.PIN_STATE_QUERY, pin, 0xF7)))
        return got.payload if got else None

    assert state(3) == bytes((3, 0x01, 1))
    assert state(2) == bytes((2, 0x0B, 1))
    assert state(4) == bytes((4, 0x00, 0))
    assert state(14) == bytes((14, 0x02, 0))
    assert state(7) == bytes((7, 0x7F, 0))  # the relay pin is not the host's
    assert state(20) == bytes((20,))
    assert _exchange(d, bytes.fromhex("f0 6d f7"), timeout_s=0.3) is None
    d.link.send(bytes((fm.SYSTEM_RESET,)))


@needs("truth", "wire")
def test_a_current_beyond_the_range_is_flagged_clipped(meter: MeterUnderTest) -> None:
    """20 A rms peaks at 28.3 A on the factory front end's 25 A-peak range: the reading
    says clipped (flags bit 3) and not valid; back at 13 A both clear (PROTOCOL.md §5.2)."""
    settle(meter, 20.0 * 230.0)
    meter.driver.read()  # the frame that follows the change
    clipped = meter.driver.read()  # its values come from a clipped window
    assert clipped.clipped and not clipped.valid
    # a sine clipped at 25 A reads 19.07 A (its clipped RMS), not 20 A: the flag warns
    assert clipped.current_a == pytest.approx(19.07, rel=0.005)
    settle(meter, 13.0 * 230.0)
    meter.driver.read()
    fine = meter.driver.read()
    assert not fine.clipped and fine.valid
    assert fine.current_a == pytest.approx(13.0, rel=0.01)
