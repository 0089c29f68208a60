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


# -- meter-signed readings ----------------------------------------------------------
TEST_KEY = bytes(range(1, 33))  # PROTOCOL.md §5.13's published test key
IDENTITY_11 = H("f0 01 01 01 01 01 00 02 00 04 70 76 2d 31 f7")  # "pv-1", 1.1, signing key
SIGNER = (
    H("f0 07 f7"),
    H("f0 07")
    + pack_bytes(
        bytes.fromhex(
            "84bf7562262bbd6940085748f3be6afa52ae317155181ece31b66351ccffa4b0"
            "8cc43d63b2859d469fee15f31c9edb5324266e6fd0407e87382d60fc4511acd8"
        )
    )
    + H("f7"),
)
ADDRESS = "0x6370eF2f4Db3611D657b90667De398a2Cc2a370C"


def signed_frame(seq: int, imp: int, exp: int, time_s: int) -> bytes:
    """A SIGNED_READING frame signed with the test key, built from §5.11 with eth_keys."""
    import struct

    from eth_keys import keys

    n = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
    msg = b"GBR1" + b"pv-1".ljust(32, b"\0") + struct.pack(">IQQQ", seq, imp, exp, time_s)
    sig = keys.PrivateKey(TEST_KEY).sign_msg_hash(hashlib.sha256(msg).digest())
    s, v = (sig.s, sig.v) if sig.s <= n // 2 else (n - sig.s, sig.v ^ 1)
    body = b"".join(pack_uint(x, 35) for x in (seq, imp, exp, time_s))
    body += pack_bytes(sig.r.to_bytes(32, "big") + s.to_bytes(32, "big")) + bytes((27 + v,))
    return H("f0 08") + body + H("f7")


def connect_11(script: list[tuple[bytes, bytes]]) -> tuple[FirmataMeter, ScriptedLink]:
    link = ScriptedLink([*HANDSHAKE[:2], (H("f0 01 f7"), IDENTITY_11), *script])
    meter = FirmataMeter(link, timeout_s=0.1)
    assert meter.handshake().signing_key
    return meter, link


def test_signer_address_and_a_verified_signed_reading() -> None:
    meter, link = connect_11(
        [
            SIGNER,
            (H("f0 08 f7"), signed_frame(1, 1234, 56, 3600)),
            (H("f0 08 f7"), signed_frame(5, 1240, 56, 3700)),
        ]
    )
    assert meter.signer_address() == ADDRESS
    first = meter.signed_reading()
    assert (first.seq, first.import_wh, first.export_wh, first.time_s) == (1, 1234, 56, 3600)
    assert first.meter_id == b"pv-1".ljust(32, b"\0") and first.signer_address() == ADDRESS
    assert meter.signed_reading().seq == 5  # gaps are allowed, the address is read once
    link.done()


@pytest.mark.parametrize(
    ("offset", "value"), [(5, 0x53), (30, 0x11), (148, 27)], ids=["import", "r", "v"]
)
def test_a_tampered_signed_reading_is_refused(offset: int, value: int) -> None:
    frame = bytearray(signed_frame(1, 1234, 56, 3600))
    assert frame[2 + offset] != value
    frame[2 + offset] = value
    meter, link = connect_11([SIGNER, (H("f0 08 f7"), bytes(frame))])
    with pytest.raises(DeviceError, match=r"does not verify.*register the new address"):
        meter.signed_reading()
    link.done()


@pytest.mark.parametrize(
    ("offset", "value"), [(4, 0x10), (21, 0x02), (148, 29)], ids=["u35-top", "byte-msb", "v"]
)
def test_a_non_canonical_signed_reading_is_refused_at_once(offset: int, value: int) -> None:
    frame = bytearray(signed_frame(1, 1234, 56, 3600))
    frame[2 + offset] = value
    meter, link = connect_11([SIGNER, (H("f0 08 f7"), bytes(frame))])
    with pytest.raises(DeviceError, match="malformed signed reading"):
        meter.signed_reading()
    link.done()


def test_a_replayed_signed_reading_is_refused() -> None:
    frame = signed_frame(3, 1234, 56, 3600)
    meter, link = connect_11([SIGNER, (H("f0 08 f7"), frame), (H("f0 08 f7"), frame)])
    meter.signed_reading()
    with pytest.raises(DeviceError, match=r"seq 3, not above the last one seen \(3\)"):
        meter.signed_reading()
    link.done()


def test_new_signing_key_sends_host_entropy_and_rereads_the_address() -> None:
    entropy = bytes(range(32, 64))
    meter, link = connect_11(
        [
            CHALLENGE,
            (auth(0x05, pack_bytes(entropy)), H("f0 06 05 00 f7")),
            (H("f0 01 f7"), IDENTITY_11),  # flags bit 2 read again: a key exists now
            SIGNER,
        ]
    )
    assert meter.new_signing_key(entropy) == ADDRESS
    link.done()


def test_a_meter_without_signing_is_told_apart() -> None:
    meter, link = connect([])  # protocol 1.0
    with pytest.raises(DeviceError, match=r"cannot sign.*attestor"):
        meter.signed_reading()
    link.done()
