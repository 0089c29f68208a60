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
