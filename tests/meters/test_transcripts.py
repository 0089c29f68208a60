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


def make_device(meter_id: str = "pv-1", power_w: float = 1000.0) -> tuple[MeterDevice, Clock]:
    clock = Clock()
    ee = Eeprom(meter_id=meter_id)
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
        H("f9 02 06") + FIRMWARE + H("f0 01 01 00 01 00 00 05 00 00 70 76 2d 31 f7")
    )
    expect(dev, [(H("f9"), H("f9 02 06")), (H("f0 79 f7"), FIRMWARE)])


def test_identity_example_from_the_document() -> None:
    dev, _ = make_device()
    dev.firmware_version = (1, 2, 3)
    dev.eeprom.boot_count = 5
    dev.eeprom.key = b"\x01" * 32
    expect(dev, [(H("f0 01 f7"), H("f0 01 01 00 01 02 03 05 00 01 70 76 2d 31 f7"))])


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
            (H("f0 01 f7"), H("f0 01 01 00 01 00 00 00 00 00") + b"home-7" + H("f7")),
            CHALLENGE,
            (auth(0x03, b"bad id!"), err(0x03, 0x06, 1)),
            CHALLENGE,
            (auth(0x04, pack_bytes(new_key)), H("f0 06 04 00 f7")),
            CHALLENGE,
            (auth(0x01, b"\x01"), err(0x05, 0x06, 1)),  # the old (default) key no longer works
            CHALLENGE,
            (auth(0x01, b"\x01", key=new_key), H("f0 06 01 00 f7")),
            (H("f0 01 f7"), H("f0 01 01 00 01 00 00 00 00 01") + b"home-7" + H("f7")),
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
