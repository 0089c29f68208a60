"""Transcript tests: for every protocol message, the bytes sent and the exact bytes back.

Expected bytes are written out from firmware/PROTOCOL.md (and built from the packing
primitives, which test_packing.py pins to the document's examples), never taken from
the emulator's own encoders.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

import pytest

from bench.emulator.device import Eeprom, Faults, MeterDevice
from bench.emulator.physics import MeterPhysics
from bench.transport.packing import pack_bytes, pack_sint, pack_uint

H = bytes.fromhex
NONCE = bytes(range(8))
KEY = bytes(32)


class Clock:
    def __init__(self) -> None:
        self.t = 0.0

    def __call__(self) -> float:
        return self.t


def make_device(
    meter_id: str = "pv-1", power_w: float = 1000.0, signing_key: bytes | None = None
) -> tuple[MeterDevice, Clock]:
    clock = Clock()
    ee = Eeprom(meter_id=meter_id, signing_key=signing_key)
    faults = Faults()
    physics = MeterPhysics(ee, faults, clock, power_w=power_w)
    dev = MeterDevice(ee, physics, faults=faults, nonce_source=lambda n: NONCE[:n])
    return dev, clock


def expect(dev: MeterDevice, pairs: list[tuple[bytes, bytes]], now: float = 0.0) -> None:
    for sent, want in pairs:
        got = dev.receive(sent, now)
        assert got == want, f"sent {sent.hex(' ')}: got {got.hex(' ')}, want {want.hex(' ')}"


def tag(key: bytes, nonce: bytes, msg: bytes) -> bytes:
    return pack_bytes(hmac.new(key, nonce + msg, hashlib.sha256).digest()[:16])


def auth(cmd: int, args: bytes, key: bytes = KEY, nonce: bytes = NONCE) -> bytes:
    msg = bytes((0x06, cmd)) + args
    return b"\xf0" + msg + tag(key, nonce, msg) + b"\xf7"


def err(code: int, cmd: int, detail: int = 0) -> bytes:
    return bytes((0xF0, 0x0F, code, cmd)) + pack_uint(detail, 14) + b"\xf7"


CHALLENGE = (H("f0 05 f7"), H("f0 05 00 00 01 00 02 00 03 00 04 00 05 00 06 00 07 00 f7"))
FIRMWARE = H("f0 79 01 00 67 00 72 00 69 00 64 00 6d 00 65 00 74 00 65 00 72 00 f7")


def test_version_firmware_and_boot_announcement() -> None:
    dev, _ = make_device()
    dev.eeprom.boot_count = 4
    assert dev.boot(0.0) == (
        H("f9 02 06") + FIRMWARE + H("f0 01 01 01 01 00 00 05 00 04 70 76 2d 31 f7")
    )
    expect(dev, [(H("f9"), H("f9 02 06")), (H("f0 79 f7"), FIRMWARE)])


def test_identity_example_from_the_document() -> None:
    dev, _ = make_device()
    dev.firmware_version = (1, 2, 3)
    dev.eeprom.boot_count = 5
    dev.eeprom.key = b"\x01" * 32
    expect(dev, [(H("f0 01 f7"), H("f0 01 01 01 01 02 03 05 00 05 70 76 2d 31 f7"))])


def test_capability_and_analog_mapping() -> None:
    dev, _ = make_device()
    digital = H("00 01 01 01 0b 01 7f")
    analog = H("02 0a 00 01 01 01 0b 01 7f")
    pins = [b"\x7f" if p in (0, 1, 7) else analog if p >= 14 else digital for p in range(20)]
    mapping = b"\x7f" * 14 + bytes(range(6))
    expect(
        dev,
        [
            (H("f0 6b f7"), b"\xf0\x6c" + b"".join(pins) + b"\xf7"),
            (H("f0 69 f7"), b"\xf0\x6a" + mapping + b"\xf7"),
        ],
    )


def test_reading_fields_and_sign_convention() -> None:
    dev, clock = make_device(power_w=-1000.0)
    dev.eeprom.import_mwh = 1_234_567.9
    clock.t = 3.6  # 1000 W for 3.6 s = 1 Wh exported
    want = (
        b"\xf0\x02"
        + pack_uint(0, 28)  # seq
        + pack_uint(0, 14)  # boot count
        + bytes((0b011,))  # relay closed, valid
        + pack_uint(23000, 21)  # 230.00 V
        + pack_uint(4348, 21)  # 4.348 A
        + pack_sint(-10000, 28)  # -1000.0 W: export
        + pack_sint(-1000, 14)  # pf carries the sign of P
        + pack_uint(5000, 14)  # 50.00 Hz
        + pack_uint(1234, 35)
        + pack_uint(567, 14)  # import 1234.567 Wh
        + pack_uint(1, 35)
        + pack_uint(0, 14)  # export 1.000 Wh
        + b"\xf7"
    )
    expect(dev, [(H("f0 02 f7"), want)])
    assert dev.receive(H("f0 02 f7"), 0.0)[2:6] == pack_uint(1, 28)  # seq + 1


def test_stream_sampling_and_reports() -> None:
    dev, _ = make_device()
    expect(dev, [(H("f0 03 64 00 f7"), b"")], now=0.0)
    assert dev.poll(0.05, 64) == b""
    frame = dev.poll(0.1, 64)
    assert frame[:2] == H("f0 02") and frame[-1] == 0xF7 and len(frame) == 38
    expect(dev, [(H("f0 03 00 00 f7"), b"")], now=0.1)
    assert dev.poll(10.0, 64) == b""
    # sampling interval 10 ms, analog reporting of A0: 3-byte analog messages
    expect(dev, [(H("f0 7a 0a 00 f7"), b""), (H("c0 01"), b"")], now=1.0)
    msg = dev.poll(1.0, 64)
    assert len(msg) == 3 and msg[0] == 0xE0 and 0 <= (msg[1] | msg[2] << 7) <= 1023
    assert dev.poll(1.005, 64) == b"" and len(dev.poll(1.0101, 64)) == 3
    # system reset stops reporting
    expect(dev, [(H("ff"), b"")], now=1.02)
    assert dev.poll(2.0, 64) == b""


def test_pin_mode_digital_write_and_digital_report() -> None:
    dev, _ = make_device()
    expect(
        dev,
        [
            (H("d0 01"), H("90 00 00")),  # port 0 reported at once: all inputs low
            (H("f4 02 0b"), H("90 04 00")),  # pin 2 pull-up reads high; reported on change
            (H("f4 07 01"), b""),  # relay pin is reserved: ignored
            (H("f4 03 01"), b""),
            (H("f5 03 01"), b""),  # digital write to an OUTPUT pin: no reply
            (H("90 08 00"), b""),  # port write: no reply
            (H("f0 71 68 00 69 00 f7"), b""),  # STRING_DATA from the host: ignored
            (H("d0 00"), b""),
        ],
    )


def test_calibration_get_and_set() -> None:
    dev, _ = make_device()
    default = pack_uint(635000, 28) + pack_uint(48828, 28) + pack_uint(512, 14) * 2
    default += pack_sint(0, 14)
    new = pack_uint(1_270_000, 28) + pack_uint(48828, 28) + pack_uint(500, 14) * 2
    new += pack_sint(-5, 14)
    expect(
        dev,
        [
            (H("f0 04 f7"), b"\xf0\x04" + default + b"\xf7"),
            CHALLENGE,
            (auth(0x02, new), H("f0 06 02 00 f7")),
            (H("f0 04 f7"), b"\xf0\x04" + new + b"\xf7"),
            CHALLENGE,
            (auth(0x02, bytes(14)), err(0x03, 0x06, 1)),  # zero gain: BAD_VALUE field 1
        ],
    )


def test_relay_unlock_and_errors() -> None:
    dev, _ = make_device()
    bad_tag = b"\xf0\x06\x01\x00" + bytes(32) + b"\xf7"
    expect(
        dev,
        [
            (bad_tag, err(0x04, 0x06)),  # no challenge yet
            CHALLENGE,
            (auth(0x01, b"\x00"), H("f0 06 01 00 f7")),  # relay open
            (auth(0x01, b"\x01"), err(0x04, 0x06)),  # nonce is single use
            CHALLENGE,
            (auth(0x01, b"\x02"), err(0x03, 0x06, 1)),  # relay state 2: BAD_VALUE
            CHALLENGE,
            (auth(0x09, b""), err(0x01, 0x06)),  # unknown AUTH cmd
            (H("f0 06 01 f7"), err(0x02, 0x06, 1)),  # too short for a tag
            (H("f0 0a f7"), err(0x01, 0x0A)),  # unknown meter command
            (H("f0 03 05 f7"), err(0x02, 0x03, 1)),  # STREAM with one septet
        ],
    )
    assert dev.eeprom.relay_closed is False


def test_bad_tags_lock_out_with_growing_delays() -> None:
    dev, _ = make_device()
    wrong = b"\x55" * 32
    for failures in (1, 2, 3):
        expect(dev, [CHALLENGE, (auth(0x01, b"\x00", key=wrong), err(0x05, 0x06, failures))])
    expect(dev, [(H("f0 05 f7"), err(0x06, 0x05, 1))], now=0.5)  # locked for 1 s
    expect(dev, [CHALLENGE, (auth(0x01, b"\x00", key=wrong), err(0x05, 0x06, 4))], now=1.01)
    expect(dev, [(H("f0 05 f7"), err(0x06, 0x05, 2))], now=1.02)  # now 2 s
    expect(dev, [CHALLENGE, (auth(0x01, b"\x00"), H("f0 06 01 00 f7"))], now=3.1)
    assert dev.eeprom.auth_failures == 0


def test_lockout_survives_a_reboot() -> None:
    dev, _ = make_device()
    for _ in range(3):
        dev.receive(CHALLENGE[0], 0.0)
        dev.receive(auth(0x01, b"\x00", key=b"\x55" * 32), 0.0)
    dev.boot(10.0)
    expect(dev, [(H("f0 05 f7"), err(0x06, 0x05, 1))], now=10.5)


def test_set_meter_id_and_key() -> None:
    dev, _ = make_device()
    new_key = bytes(range(32))
    expect(
        dev,
        [
            CHALLENGE,
            (auth(0x03, b"home-7"), H("f0 06 03 00 f7")),
            (H("f0 01 f7"), H("f0 01 01 01 01 00 00 00 00 04") + b"home-7" + H("f7")),
            CHALLENGE,
            (auth(0x03, b"bad id!"), err(0x03, 0x06, 1)),
            CHALLENGE,
            (auth(0x04, pack_bytes(new_key)), H("f0 06 04 00 f7")),
            CHALLENGE,
            (auth(0x01, b"\x01"), err(0x05, 0x06, 1)),  # the old (default) key no longer works
            CHALLENGE,
            (auth(0x01, b"\x01", key=new_key), H("f0 06 01 00 f7")),
            (H("f0 01 f7"), H("f0 01 01 01 01 00 00 00 00 05") + b"home-7" + H("f7")),
        ],
    )


def test_wrong_firmware_answers_like_standard_firmata() -> None:
    dev, _ = make_device()
    dev.faults.wrong_firmware = True
    name = pack_bytes(b"StandardFirmata.ino")
    expect(
        dev,
        [
            (H("f9"), H("f9 02 05")),
            (H("f0 79 f7"), H("f0 79 02 05") + name + H("f7")),
            (H("f0 01 f7"), b""),  # meter commands are unknown sysex: ignored
        ],
    )


@pytest.mark.parametrize(
    ("fault", "check"),
    [
        ("drop_rate", lambda out, full: out == b""),
        ("truncate_rate", lambda out, full: 0 < len(out) < len(full) and full.startswith(out)),
        ("garbage_rate", lambda out, full: len(out) > len(full) and out.endswith(full)),
    ],
)
def test_output_faults_damage_frames(fault: str, check: Callable[[bytes, bytes], bool]) -> None:
    clean, _ = make_device()
    full = clean.receive(H("f0 04 f7"), 0.0)
    dev, _ = make_device()
    setattr(dev.faults, fault, 1.0)
    out = dev.receive(H("f0 04 f7"), 0.0)
    assert check(out, full), out.hex(" ")


# -- meter-signed readings (§5.10-§5.12) ------------------------------------------
TEST_SIGNING_KEY = bytes(range(1, 33))  # the published test key of §5.13
CURVE_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141


def public_key(private_key: bytes) -> bytes:
    from eth_keys import keys

    return keys.PrivateKey(private_key).public_key.to_bytes()


def oracle_signed_frame(
    private_key: bytes, meter_id: bytes, seq: int, imp: int, exp: int, time_s: int
) -> bytes:
    """The SIGNED_READING frame built from §5.11 alone: struct, hashlib, eth_keys."""
    import struct

    from eth_keys import keys

    message = b"GBR1" + meter_id.ljust(32, b"\0") + struct.pack(">IQQQ", seq, imp, exp, time_s)
    sig = keys.PrivateKey(private_key).sign_msg_hash(hashlib.sha256(message).digest())
    s, v = (sig.s, sig.v) if sig.s <= CURVE_N // 2 else (CURVE_N - sig.s, sig.v ^ 1)
    fields = b"".join(pack_uint(x, 35) for x in (seq, imp, exp, time_s))
    sig_septets = pack_bytes(sig.r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    return b"\xf0\x08" + fields + sig_septets + bytes((27 + v,)) + b"\xf7"


def signing_device(power_w: float = 0.0) -> tuple[MeterDevice, Clock]:
    return make_device(power_w=power_w, signing_key=TEST_SIGNING_KEY)


def test_signer_reply_is_the_public_key() -> None:
    dev, _ = signing_device()
    want = b"\xf0\x07" + pack_bytes(public_key(TEST_SIGNING_KEY)) + b"\xf7"
    assert len(want) == 131
    expect(dev, [(H("f0 07 f7"), want), (H("f0 07 01 f7"), err(0x02, 0x07, 1))])


def test_signed_readings_count_up_and_sign_the_counters() -> None:
    dev, clock = signing_device(power_w=3600.0)  # 1 Wh per simulated second
    dev.eeprom.import_mwh, dev.eeprom.export_mwh = 1_233_500.0, 56_999.0
    clock.t = 1.5  # +1.5 Wh: 1235.0 Wh imported
    first = oracle_signed_frame(TEST_SIGNING_KEY, b"pv-1", 1, 1235, 56, 1)
    expect(dev, [(H("f0 08 f7"), first)])
    clock.t = 3.0
    second = oracle_signed_frame(TEST_SIGNING_KEY, b"pv-1", 2, 1236, 56, 3)
    expect(dev, [(H("f0 08 f7"), second), (H("f0 08 00 f7"), err(0x02, 0x08, 1))])
    assert dev.eeprom.signed_seq == 2  # a refused request consumes no seq


def test_seq_and_clock_survive_a_reboot_and_never_go_back() -> None:
    dev, clock = signing_device()
    clock.t = 100.0
    expect(dev, [(H("f0 08 f7"), oracle_signed_frame(TEST_SIGNING_KEY, b"pv-1", 1, 0, 0, 100))])
    dev.boot(0.0)
    clock.t = 40.0  # the simulated clock restarted lower: time_s still does not decrease
    after = oracle_signed_frame(TEST_SIGNING_KEY, b"pv-1", 2, 0, 0, 100)
    expect(dev, [(H("f0 08 f7"), after)])


def test_new_signing_key_mixes_meter_and_host_entropy() -> None:
    meter_entropy = b"\x11" * 32
    host_entropy = bytes(range(100, 132))
    dev, _ = signing_device()
    dev._entropy = lambda n: meter_entropy[:n]
    new_key = hashlib.sha256(meter_entropy + host_entropy).digest()
    expect(
        dev,
        [
            CHALLENGE,
            (auth(0x05, pack_bytes(host_entropy)), H("f0 06 05 00 f7")),
            (H("f0 07 f7"), b"\xf0\x07" + pack_bytes(public_key(new_key)) + b"\xf7"),
            (H("f0 08 f7"), oracle_signed_frame(new_key, b"pv-1", 1, 0, 0, 0)),
            CHALLENGE,
            (auth(0x05, pack_bytes(host_entropy)[:-2]), err(0x02, 0x06, 1 + 62 + 32)),
            CHALLENGE,
            (auth(0x05, pack_bytes(host_entropy)[:-1] + b"\x02"), err(0x03, 0x06, 1)),
        ],
    )


def test_each_meter_generates_its_own_key_and_reports_it_present() -> None:
    a, _ = make_device()
    b, _ = make_device()
    assert a.eeprom.signing_key and b.eeprom.signing_key
    assert a.eeprom.signing_key != b.eeprom.signing_key
    assert a.receive(H("f0 07 f7"), 0.0) != b.receive(H("f0 07 f7"), 0.0)
    ident = a.receive(H("f0 01 f7"), 0.0)
    assert ident[2:4] == H("01 01") and ident[9] & 0b100  # proto 1.1, flags bit 2
    assert a.eeprom.signing_key.hex() not in repr(a.eeprom)  # never printed


# -- the settled ambiguities (PROTOCOL.md §4, §5.5-§5.9) -----------------------------
def test_system_reset_discards_the_pending_nonce() -> None:
    dev, _ = make_device()
    expect(dev, [CHALLENGE, (H("ff"), b""), (auth(0x01, b"\x01"), err(0x04, 0x06))])


def test_a_nonce_survives_a_too_short_auth_and_dies_at_the_tag_check() -> None:
    dev, _ = make_device()
    expect(
        dev,
        [
            CHALLENGE,
            (H("f0 06 01 01 f7"), err(0x02, 0x06, 2)),  # too short for a tag: nonce kept
            (auth(0x01, b"\x00"), H("f0 06 01 00 f7")),
            CHALLENGE,
            (auth(0x01, b"\x01", key=b"\x01" * 32), err(0x05, 0x06, 1)),  # consumed here
            (auth(0x01, b"\x01"), err(0x04, 0x06)),
        ],
    )


def test_errors_after_the_tag_name_the_sysex_and_count_the_whole_payload() -> None:
    dev, _ = make_device()
    expect(
        dev,
        [
            CHALLENGE,
            (auth(0x01, b"\x01\x01"), H("f0 0f 02 06 23 00 f7")),  # 1 + 2 + 32 septets
            CHALLENGE,
            (auth(0x03, b""), err(0x03, 0x06, 1)),  # an empty id is a bad value
            CHALLENGE,
            (auth(0x09, b""), H("f0 0f 01 06 00 00 f7")),
        ],
    )


def test_non_canonical_septets_are_rejected() -> None:
    dev, _ = make_device()
    good = auth(0x01, b"\x00")
    msb = next(i for i in range(5, 37, 2) if good[i] == 0)  # an MSB septet that is 0
    bent = good[:msb] + b"\x02" + good[msb + 1 :]  # same bits after "& 1", other septet
    key_args = bytearray(pack_bytes(bytes(range(32))))
    key_args[1] = 0x03
    expect(
        dev,
        [
            CHALLENGE,
            (bent, err(0x05, 0x06, 1)),
            CHALLENGE,
            (auth(0x04, bytes(key_args)), err(0x03, 0x06, 1)),
        ],
    )
    assert dev.eeprom.key == KEY and dev.eeprom.relay_closed


def test_pin_state_query_answers_as_standard_firmata() -> None:
    dev, _ = make_device()
    expect(
        dev,
        [
            (H("f0 6d 02 f7"), H("f0 6e 02 00 00 f7")),
            (H("f0 6d 0e f7"), H("f0 6e 0e 02 00 f7")),
            (H("f0 6d 07 f7"), H("f0 6e 07 7f 00 f7")),  # the relay pin is not the host's
            (H("f0 6d 14 f7"), H("f0 6e 14 f7")),  # no pin 20
            (H("f0 6d f7"), b""),
            (H("f4 03 01"), b""),
            (H("f5 03 01"), b""),
            (H("f0 6d 03 05 f7"), H("f0 6e 03 01 01 f7")),  # extra bytes ignored
            (H("f4 02 0b"), b""),
            (H("f0 6d 02 f7"), H("f0 6e 02 0b 01 f7")),
            (H("f4 03 00"), b""),
            (H("f0 6d 03 f7"), H("f0 6e 03 00 00 f7")),  # a new mode resets the state
        ],
    )
