"""The protocol's constants in the firmware (meter_app.cpp) are the Python wire module's."""

from __future__ import annotations

import re

import pytest

from bench.devices import wire
from bench.firmware import FIRMWARE_DIR

SOURCE = (FIRMWARE_DIR / "src" / "meter_app.cpp").read_text()

# firmware name → (Python enum, member)
COMMANDS = {
    "kIdentity": "IDENTITY",
    "kReading": "READING",
    "kStream": "STREAM",
    "kCalibration": "CALIBRATION",
    "kChallenge": "CHALLENGE",
    "kAuthCmd": "AUTH",
    "kSigner": "SIGNER",
    "kSignedReading": "SIGNED_READING",
    "kError": "ERROR",
}
AUTH = {
    "kRelayCmd": "RELAY",
    "kSetCalibration": "SET_CALIBRATION",
    "kSetMeterId": "SET_METER_ID",
    "kSetKey": "SET_KEY",
    "kNewSigningKey": "NEW_SIGNING_KEY",
}
ERRORS = {
    "kUnknownCommand": "UNKNOWN_COMMAND",
    "kBadLength": "BAD_LENGTH",
    "kBadValue": "BAD_VALUE",
    "kNoChallenge": "NO_CHALLENGE",
    "kBadTag": "BAD_TAG",
    "kLockedOut": "LOCKED_OUT",
    "kStorageError": "STORAGE",
}


def firmware_constants() -> dict[str, int]:
    found = {
        m[1]: int(m[2], 0) for m in re.finditer(r"\b(k[A-Z]\w*) = (0x[0-9A-Fa-f]+|\d+)\b", SOURCE)
    }
    return found


def test_parser_finds_every_constant() -> None:
    found = firmware_constants()
    for name in (*COMMANDS, *AUTH, *ERRORS, "kProtoMajor", "kProtoMinor"):
        assert name in found, name


@pytest.mark.skipif(
    not hasattr(wire.Cmd, "SIGNED_READING"),
    reason="bench/devices/wire.py without protocol 1.1 (the host branch adds it)",
)
def test_firmware_and_wire_module_share_one_table() -> None:
    fw = firmware_constants()
    for table, enum in ((COMMANDS, wire.Cmd), (AUTH, wire.AuthCmd), (ERRORS, wire.ErrorCode)):
        for c_name, py_name in table.items():
            assert fw[c_name] == enum[py_name], (c_name, py_name)
        assert {e.name for e in enum} == set(table.values()), enum
    assert (fw["kProtoMajor"], fw["kProtoMinor"]) == (wire.PROTO_MAJOR, wire.PROTO_MINOR)
