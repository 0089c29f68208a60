"""Host-side transcripts: the exact bytes the driver sends, replayed against scripted replies.

Like PyMeasure's ``expected_protocol``: a list of (bytes the driver must send, bytes the
meter replies); anything unexpected fails the test.
"""

from __future__ import annotations

import hashlib
import hmac

import pytest

from bench.devices import Calibration, FirmataMeter, MeterRefusedError
from bench.errors import DeviceError, TransportError
from bench.transport.firmata import FirmataParser, Message
from bench.transport.link import LinkStats
from bench.transport.packing import pack_bytes, pack_sint, pack_uint

H = bytes.fromhex
NONCE = bytes(range(8))
FIRMWARE = H("f0 79 01 00 67 00 72 00 69 00 64 00 6d 00 65 00 74 00 65 00 72 00 f7")
IDENTITY = H("f0 01 01 00 01 00 00 02 00 00 6d 2d 31 f7")  # "m-1", boot 2
HANDSHAKE = [(H("f9"), H("f9 02 06")), (H("f0 79 f7"), FIRMWARE), (H("f0 01 f7"), IDENTITY)]
CHALLENGE = (H("f0 05 f7"), H("f0 05") + pack_bytes(NONCE) + H("f7"))


class ScriptedLink:
    """A FirmataLink that checks every write against a script and replies from it."""

    url = "script://meter"

    def __init__(self, script: list[tuple[bytes, bytes]]) -> None:
        self.script = list(script)
        self.pending: list[Message] = []
        self.parser = FirmataParser()

    def send(self, data: bytes) -> None:
        assert self.script, f"unexpected write {data.hex(' ')}"
        want, reply = self.script.pop(0)
        assert data == want, f"driver sent {data.hex(' ')}, script expects {want.hex(' ')}"
        self.pending += self.parser.feed(reply)

    def receive(self, timeout_s: float) -> list[Message]:
        out, self.pending = self.pending, []
        return out

    def stats(self) -> LinkStats:
        return LinkStats(0, 0, 0, 0)

    def close(self) -> None:
        pass

    def done(self) -> None:
        assert not self.script, f"driver never sent {[w.hex(' ') for w, _ in self.script]}"


def auth(cmd: int, args: bytes, key: bytes = bytes(32)) -> bytes:
    msg = bytes((0x06, cmd)) + args
    tag = hmac.new(key, NONCE + msg, hashlib.sha256).digest()[:16]
    return b"\xf0" + msg + pack_bytes(tag) + b"\xf7"


def connect(script: list[tuple[bytes, bytes]]) -> tuple[FirmataMeter, ScriptedLink]:
    link = ScriptedLink(HANDSHAKE + script)
    meter = FirmataMeter(link, timeout_s=0.1)
    ident = meter.handshake()
    assert (ident.meter_id, ident.boot_count, ident.firmata_version) == ("m-1", 2, (2, 6))
    return meter, link


def test_read_and_stream() -> None:
    reading = (
        H("f0 02")
        + pack_uint(7, 28)
        + pack_uint(2, 14)
        + b"\x03"
        + pack_uint(23012, 21)
        + pack_uint(1500, 21)
        + pack_sint(-3451, 28)
        + pack_sint(-1000, 14)
        + pack_uint(4998, 14)
        + pack_uint(12, 35)
        + pack_uint(345, 14)
        + pack_uint(6, 35)
        + pack_uint(7, 14)
        + H("f7")
    )
    meter, link = connect(
        [(H("f0 02 f7"), reading), (H("f0 03 64 00 f7"), b""), (H("f0 03 00 00 f7"), b"")]
    )
    r = meter.read()
    assert (r.meter_id, r.seq, r.boot_count, r.relay_closed) == ("m-1", 7, 2, True)
    assert (r.voltage_v, r.current_a, r.power_w) == (230.12, 1.5, -345.1)
    assert (r.power_factor, r.frequency_hz) == (-1.0, 49.98)
    assert (r.energy_import_wh, r.energy_export_wh) == (12.345, 6.007)
    meter.start_stream(0.1)
    meter.stop_stream()
    link.done()


def test_calibration_get_and_authenticated_set() -> None:
    cal = Calibration(700000, 50000, 510, 515, -12)
    packed = (
        pack_uint(700000, 28)
        + pack_uint(50000, 28)
        + pack_uint(510, 14)
        + pack_uint(515, 14)
        + pack_sint(-12, 14)
    )
    meter, link = connect(
        [
            (H("f0 04 f7"), H("f0 04") + packed + H("f7")),
            CHALLENGE,
            (auth(0x02, packed), H("f0 06 02 00 f7")),
        ]
    )
    assert meter.calibration() == cal
    meter.set_calibration(cal)
    link.done()


def test_relay_meter_id_and_key() -> None:
    new_key = bytes(range(32))
    meter, link = connect(
        [
            CHALLENGE,
            (auth(0x01, b"\x00"), H("f0 06 01 00 f7")),
            CHALLENGE,
            (auth(0x03, b"m-2"), H("f0 06 03 00 f7")),
            (H("f0 01 f7"), H("f0 01 01 00 01 00 00 02 00 00 6d 2d 32 f7")),
            CHALLENGE,
            (auth(0x04, pack_bytes(new_key)), H("f0 06 04 00 f7")),
            CHALLENGE,
            (auth(0x01, b"\x01", key=new_key), H("f0 06 01 00 f7")),
        ]
    )
    meter.set_relay(False)
    meter.set_meter_id("m-2")
    assert meter.meter_id == "m-2"
    meter.set_key(new_key)
    meter.set_relay(True)
    link.done()


def test_error_reply_becomes_a_refusal_with_advice() -> None:
    meter, link = connect([CHALLENGE, (auth(0x01, b"\x01"), H("f0 0f 05 06 03 00 f7"))])
    with pytest.raises(MeterRefusedError, match=r"BAD_TAG.*key") as exc:
        meter.set_relay(True)
    assert (exc.value.code, exc.value.detail) == (5, 3)
    link.done()


def test_wrong_firmware_and_protocol_are_refused() -> None:
    other = H("f0 79 02 05") + pack_bytes(b"StandardFirmata.ino") + H("f7")
    link = ScriptedLink([(H("f9"), H("f9 02 05")), (H("f0 79 f7"), other)])
    with pytest.raises(DeviceError, match="make -C firmware flash"):
        FirmataMeter(link, timeout_s=0.1).handshake()
    future = H("f0 01 02 00 01 00 00 02 00 00 6d 2d 31 f7")  # protocol 2.0
    link = ScriptedLink([*HANDSHAKE[:2], (H("f0 01 f7"), future)])
    with pytest.raises(DeviceError, match=r"protocol 2\.0"):
        FirmataMeter(link, timeout_s=0.1).handshake()


def test_silence_is_a_transport_error() -> None:
    link = ScriptedLink([(H("f9"), b"")])
    with pytest.raises(TransportError, match="did not answer"):
        FirmataMeter(link, timeout_s=0.1).handshake()


def test_unsolicited_boot_announcement_rearms_the_stream() -> None:
    meter, link = connect([(H("f0 03 32 00 f7"), b"")])
    meter.start_stream(0.05)
    boot = H("f9 02 06") + FIRMWARE + H("f0 01 01 00 01 00 00 03 00 00 6d 2d 31 f7")
    link.pending += link.parser.feed(boot)
    link.script.append((H("f0 03 32 00 f7"), b""))
    assert meter.next_readings(0.01) == []
    assert meter.reboots_seen == 1 and meter.identity().boot_count == 3
    link.done()


def test_string_data_from_the_meter_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    meter, link = connect([])
    link.pending += link.parser.feed(H("f0 71") + pack_bytes(b"eeprom ok") + H("f7"))
    with caplog.at_level("INFO", logger="bench.devices.firmata_meter"):
        assert meter.next_readings(0.01) == []
    assert any("eeprom ok" in r.getMessage() for r in caplog.records)
