"""PROTOCOL.md's normative examples, checked against independent computations."""

from __future__ import annotations

import re
from pathlib import Path

from eth_keys import keys

from bench import attestation
from bench.devices import wire
from bench.emulator.device import Eeprom, Faults, MeterDevice
from bench.emulator.physics import MeterPhysics

DOC = (Path(__file__).parents[2] / "firmware" / "PROTOCOL.md").read_text()
TEST_KEY = bytes(range(1, 33))
DIGEST = "3dd393f22acc25a31140c3f72e340ebe2e3cb133df4316b04ac8f6290e8ddeb7"  # sha256 below


def test_example_digest_is_sha256_of_the_message_block() -> None:
    import hashlib

    m = re.search(r"Message:\s*```\n(.*?)```", DOC, re.S)
    assert m
    message = bytes.fromhex(m.group(1))
    assert len(message) == 64 and message[:4] == b"GBR1"
    assert hashlib.sha256(message).hexdigest() == DIGEST and DIGEST in DOC


def code_block_after(marker: str) -> bytes:
    """The hex bytes of the first fenced block after ``<!-- marker -->``."""
    m = re.search(rf"<!-- {marker} -->\s*```\n(.*?)```", DOC, re.S)
    assert m, f"PROTOCOL.md has no block marked {marker}"
    return bytes.fromhex(m.group(1))


def test_signed_reading_example_matches_attestation_and_eth_keys() -> None:
    frame = code_block_after("signed-reading-example")
    pub = keys.PrivateKey(TEST_KEY).public_key
    assert pub.to_bytes().hex() in DOC.replace("`\n`", "")
    assert pub.to_checksum_address() in DOC
    meter_id = attestation.meter_id_bytes32("pv-1")
    signed = attestation.sign_counters(
        TEST_KEY, meter_id=meter_id, seq=1, import_wh=1234, export_wh=56, time_s=3600
    )
    assert signed.digest().hex() in DOC and signed.r.hex() in DOC and signed.s.hex() in DOC
    decoded = wire.decode_signed_reading(frame[2:-1], meter_id)
    assert decoded == signed
    assert decoded.signer_address() == pub.to_checksum_address()
    sig = keys.Signature(vrs=(decoded.v - 27, int(decoded.r.hex(), 16), int(decoded.s.hex(), 16)))
    assert pub.verify_msg_hash(bytes.fromhex(DIGEST), sig)
    assert (frame[0], frame[1], frame[-1], len(frame)) == (0xF0, 0x08, 0xF7, 152)


def test_the_emulator_answers_the_example_byte_for_byte() -> None:
    ee = Eeprom(meter_id="pv-1", signing_key=TEST_KEY, import_mwh=1_234_999.0, export_mwh=56_000.0)
    physics = MeterPhysics(ee, Faults(), lambda: 3600.0, power_w=0.0)
    dev = MeterDevice(ee, physics)
    assert dev.receive(bytes.fromhex("f0 08 f7"), 0.0) == code_block_after("signed-reading-example")


def test_auth_tag_example_is_hmac_sha256_of_nonce_and_msg() -> None:
    import hashlib
    import hmac

    frame = code_block_after("auth-relay-example")
    nonce, msg = bytes(range(8)), bytes.fromhex("06 01 01")
    tag = hmac.new(bytes(32), nonce + msg, hashlib.sha256).digest()[:16]
    assert tag.hex(" ") in DOC
    septets = b"".join(bytes((b & 0x7F, b >> 7)) for b in tag)  # Firmata's two-septet bytes
    assert frame == b"\xf0" + msg + septets + b"\xf7"
    ee = Eeprom(meter_id="pv-1", signing_key=TEST_KEY, relay_closed=False)
    dev = MeterDevice(ee, MeterPhysics(ee, Faults(), lambda: 0.0), nonce_source=lambda n: nonce)
    dev.receive(bytes.fromhex("f0 05 f7"), 0.0)
    assert dev.receive(frame, 0.0) == bytes.fromhex("f0 06 01 00 f7") and ee.relay_closed


# -- one table: firmware/src/meter_app.cpp, bench/devices/wire.py, PROTOCOL.md ----------
FIRMWARE_SRC = (Path(__file__).parents[2] / "firmware" / "src" / "meter_app.cpp").read_text()


def _snake(name: str) -> str:
    """``kSetMeterId`` → ``SET_METER_ID``; a trailing ``_CMD``/``_ERROR`` is the C++ side's
    disambiguation (``kAuthCmd``, ``kRelayCmd``, ``kStorageError``), not part of the name."""
    snake = re.sub(r"(?<!^)(?=[A-Z])", "_", name.removeprefix("k")).upper()
    return re.sub(r"_(CMD|ERROR)$", "", snake)


def firmware_enums() -> list[dict[int, str]]:
    tables = []
    for body in re.findall(r"enum\s*:\s*uint8_t\s*\{(.*?)\};", FIRMWARE_SRC, re.S):
        pairs = re.findall(r"(k\w+)\s*=\s*(0x[0-9A-Fa-f]+|\d+)", body)
        tables.append({int(v, 0): _snake(n) for n, v in pairs})
    return tables


def firmware_proto() -> tuple[int, int]:
    m = re.search(r"kProtoMajor\s*=\s*(\d+)\s*,\s*kProtoMinor\s*=\s*(\d+)", FIRMWARE_SRC)
    assert m, "meter_app.cpp no longer defines kProtoMajor, kProtoMinor"
    return int(m.group(1)), int(m.group(2))


def doc_table(heading: str) -> dict[int, tuple[str, int]]:
    """``{value: (name, since_minor)}`` of the table under ``heading`` in PROTOCOL.md."""
    section = DOC[DOC.index(heading) :]
    rows = re.findall(r"^\| `([0-9A-F]{2})` \| ([A-Z_]+)[^|]*\|(.*)\|$", section, re.M)
    out: dict[int, tuple[str, int]] = {}
    for value, name, rest in rows:
        if int(value, 16) in out:
            break  # the next table
        since = re.search(r"since 1\.(\d+)", rest)
        out[int(value, 16)] = (name, int(since.group(1)) if since else 0)
    return out


TABLES = [
    ("## 5. Meter commands", wire.Cmd, "kIdentity"),
    ("### 5.7 Authenticated commands", wire.AuthCmd, "kRelayCmd"),
    ("| code | name | when | detail |", wire.ErrorCode, "kUnknownCommand"),
]


def test_wire_module_and_protocol_doc_are_the_same_table() -> None:
    assert (wire.PROTO_MAJOR, wire.PROTO_MINOR) == (1, 1)
    assert re.search(r"^# gridbench meter protocol, version 1\.1$", DOC, re.M)
    for heading, enum, _ in TABLES:
        doc = {v: name for v, (name, _) in doc_table(heading).items()}
        assert doc == {m.value: m.name for m in enum}, heading


def test_firmware_constants_are_the_doc_table_for_its_protocol_version() -> None:
    """meter_app.cpp implements protocol 1.kProtoMinor: exactly the rows up to that version."""
    major, minor = firmware_proto()
    assert major == wire.PROTO_MAJOR and minor <= wire.PROTO_MINOR
    enums = firmware_enums()
    for heading, _, marker in TABLES:
        fw = next(t for t in enums if _snake(marker) in t.values())
        doc = {v: name for v, (name, since) in doc_table(heading).items() if since <= minor}
        assert fw == doc, heading
