"""The meter's own sysex commands: encoding and decoding (firmware/PROTOCOL.md §5).

Shared by the host drivers and the emulator, so both sides speak one definition.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from enum import IntEnum

from bench.attestation import SignedCounters
from bench.devices.reading import Calibration
from bench.errors import DeviceError
from bench.transport.packing import (
    pack_bytes,
    pack_sint,
    pack_uint,
    unpack_bytes,
    unpack_sint,
    unpack_uint,
)

PROTO_MAJOR = 1
PROTO_MINOR = 1
FIRMWARE_NAME = "gridmeter"
FIRMATA_VERSION = (2, 6)
DEFAULT_KEY = bytes(32)
NONCE_BYTES = 8
TAG_BYTES = 16
TAG_SEPTETS = 2 * TAG_BYTES
ENERGY_WRAP_MWH = (1 << 32) * 1000
PUBLIC_KEY_BYTES = 64
SIGNER_LEN = 2 * PUBLIC_KEY_BYTES
SIGNED_READING_LEN = 4 * 5 + 2 * 64 + 1
ENTROPY_BYTES = 32
METER_ID_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


class Cmd(IntEnum):
    """Meter sysex ids."""

    IDENTITY = 0x01
    READING = 0x02
    STREAM = 0x03
    CALIBRATION = 0x04
    CHALLENGE = 0x05
    AUTH = 0x06
    SIGNER = 0x07
    SIGNED_READING = 0x08
    ERROR = 0x0F


class AuthCmd(IntEnum):
    """Commands carried by AUTH."""

    RELAY = 0x01
    SET_CALIBRATION = 0x02
    SET_METER_ID = 0x03
    SET_KEY = 0x04
    NEW_SIGNING_KEY = 0x05


class ErrorCode(IntEnum):
    """ERROR reply codes."""

    UNKNOWN_COMMAND = 0x01
    BAD_LENGTH = 0x02
    BAD_VALUE = 0x03
    NO_CHALLENGE = 0x04
    BAD_TAG = 0x05
    LOCKED_OUT = 0x06
    STORAGE = 0x07


class MeterRefusedError(DeviceError):
    """The meter answered a command with an ERROR reply."""

    def __init__(self, message: str, *, code: int, command: int, detail: int) -> None:
        super().__init__(message)
        self.code = code
        self.command = command
        self.detail = detail


@dataclass(frozen=True, slots=True)
class IdentityFrame:
    """Decoded IDENTITY reply."""

    proto: tuple[int, int]
    firmware_version: tuple[int, int, int]
    boot_count: int
    key_provisioned: bool
    calibrated: bool
    meter_id: str
    signing_key: bool = False


@dataclass(frozen=True, slots=True)
class ReadingFrame:
    """Decoded READING reply, in the wire's integer units."""

    seq: int
    boot_count: int
    relay_closed: bool
    valid: bool
    locked_out: bool
    vrms_cv: int
    irms_ma: int
    power_dw: int
    pf_milli: int
    freq_chz: int
    import_mwh: int
    export_mwh: int
    clipped: bool = False
    """Flags bit 3: an input clipped at the ADC's rail since the previous READING."""


@dataclass(frozen=True, slots=True)
class ErrorFrame:
    """Decoded ERROR reply."""

    code: int
    command: int
    detail: int


READING_LEN = 35
IDENTITY_MIN_LEN = 9
CALIBRATION_LEN = 14
ERROR_LEN = 4


def encode_identity(f: IdentityFrame) -> bytes:
    """IDENTITY reply payload (after the command byte)."""
    flags = int(f.key_provisioned) | int(f.calibrated) << 1 | int(f.signing_key) << 2
    return (
        bytes((*f.proto, *f.firmware_version))
        + pack_uint(f.boot_count % 16384, 14)
        + bytes((flags,))
        + f.meter_id.encode("ascii")
    )


def decode_identity(p: bytes) -> IdentityFrame | None:
    """Decode an IDENTITY payload; ``None`` if malformed."""
    if len(p) < IDENTITY_MIN_LEN:
        return None
    name = p[8:]
    if len(name) > 16 or any(chr(c) not in METER_ID_CHARS for c in name):
        return None
    return IdentityFrame(
        proto=(p[0], p[1]),
        firmware_version=(p[2], p[3], p[4]),
        boot_count=unpack_uint(p, 5, 14),
        key_provisioned=bool(p[7] & 1),
        calibrated=bool(p[7] & 2),
        meter_id=name.decode("ascii"),
        signing_key=bool(p[7] & 4),
    )


def _split_mwh(mwh: int) -> bytes:
    mwh %= ENERGY_WRAP_MWH
    return pack_uint(mwh // 1000, 35) + pack_uint(mwh % 1000, 14)


def encode_reading(f: ReadingFrame) -> bytes:
    """READING reply payload."""
    flags = int(f.relay_closed) | int(f.valid) << 1 | int(f.locked_out) << 2 | int(f.clipped) << 3
    return b"".join(
        (
            pack_uint(f.seq % (1 << 28), 28),
            pack_uint(f.boot_count % 16384, 14),
            bytes((flags,)),
            pack_uint(min(f.vrms_cv, (1 << 21) - 1), 21),
            pack_uint(min(f.irms_ma, (1 << 21) - 1), 21),
            pack_sint(max(min(f.power_dw, (1 << 27) - 1), -(1 << 27)), 28),
            pack_sint(max(min(f.pf_milli, 1000), -1000), 14),
            pack_uint(min(f.freq_chz, 16383), 14),
            _split_mwh(f.import_mwh),
            _split_mwh(f.export_mwh),
        )
    )


def decode_reading(p: bytes) -> ReadingFrame | None:
    """Decode a READING payload; ``None`` if malformed."""
    if len(p) != READING_LEN:
        return None
    imp_wh, imp_rem = unpack_uint(p, 21, 35), unpack_uint(p, 26, 14)
    exp_wh, exp_rem = unpack_uint(p, 28, 35), unpack_uint(p, 33, 14)
    if max(imp_rem, exp_rem) > 999 or max(imp_wh, exp_wh) >= 1 << 32:
        return None
    return ReadingFrame(
        seq=unpack_uint(p, 0, 28),
        boot_count=unpack_uint(p, 4, 14),
        relay_closed=bool(p[6] & 1),
        valid=bool(p[6] & 2),
        locked_out=bool(p[6] & 4),
        vrms_cv=unpack_uint(p, 7, 21),
        irms_ma=unpack_uint(p, 10, 21),
        power_dw=unpack_sint(p, 13, 28),
        pf_milli=unpack_sint(p, 17, 14),
        freq_chz=unpack_uint(p, 19, 14),
        import_mwh=imp_wh * 1000 + imp_rem,
        export_mwh=exp_wh * 1000 + exp_rem,
        clipped=bool(p[6] & 8),
    )


def encode_calibration(c: Calibration) -> bytes:
    """CALIBRATION payload (reply, and SET_CALIBRATION args)."""
    return b"".join(
        (
            pack_uint(c.v_gain_uv_per_count, 28),
            pack_uint(c.i_gain_ua_per_count, 28),
            pack_uint(c.v_offset_counts, 14),
            pack_uint(c.i_offset_counts, 14),
            pack_sint(c.phase_cdeg, 14),
        )
    )


def decode_calibration(p: bytes) -> Calibration | None:
    """Decode a CALIBRATION payload; ``None`` if malformed."""
    if len(p) != CALIBRATION_LEN:
        return None
    return Calibration(
        v_gain_uv_per_count=unpack_uint(p, 0, 28),
        i_gain_ua_per_count=unpack_uint(p, 4, 28),
        v_offset_counts=unpack_uint(p, 8, 14),
        i_offset_counts=unpack_uint(p, 10, 14),
        phase_cdeg=unpack_sint(p, 12, 14),
    )


def encode_error(f: ErrorFrame) -> bytes:
    """ERROR payload."""
    return bytes((f.code, f.command)) + pack_uint(min(f.detail, 16383), 14)


def decode_error(p: bytes) -> ErrorFrame | None:
    """Decode an ERROR payload; ``None`` if malformed."""
    if len(p) != ERROR_LEN:
        return None
    return ErrorFrame(p[0], p[1], unpack_uint(p, 2, 14))


def canonical_bytes(septets: bytes | bytearray) -> bool:
    """True when ``septets`` is a canonical ``bytes[n]`` field (every MSB septet 0 or 1)."""
    return len(septets) % 2 == 0 and all(b <= 1 for b in septets[1::2])


def encode_signer(public_key: bytes) -> bytes:
    """SIGNER reply payload: the 64-byte public key X || Y as ``bytes[64]``."""
    if len(public_key) != PUBLIC_KEY_BYTES:
        raise ValueError("a public key has 64 bytes (X || Y)")
    return pack_bytes(public_key)


def decode_signer(p: bytes) -> bytes | None:
    """The 64-byte public key of a SIGNER payload; ``None`` if malformed or non-canonical."""
    if len(p) != SIGNER_LEN or not canonical_bytes(p):
        return None
    return unpack_bytes(p)


def signer_address(public_key: bytes) -> str:
    """The checksummed address of a 64-byte public key (last 20 bytes of its Keccak-256)."""
    from eth_keys import keys  # lazy: eth_keys costs start-up time

    return keys.PublicKey(public_key).to_checksum_address()


def encode_signed_reading(sc: SignedCounters) -> bytes:
    """SIGNED_READING reply payload (§5.11); the meter id is not on the wire."""
    return b"".join(
        (
            pack_uint(sc.seq, 35),
            pack_uint(sc.import_wh, 35),
            pack_uint(sc.export_wh, 35),
            pack_uint(sc.time_s, 35),
            pack_bytes(sc.r),
            pack_bytes(sc.s),
            bytes((sc.v,)),
        )
    )


def decode_signed_reading(p: bytes, meter_id: bytes) -> SignedCounters | None:
    """Decode a SIGNED_READING payload for ``meter_id`` (bytes32); ``None`` if malformed.

    Non-canonical packing (a 32-bit field with its top 3 bits set, a byte's MSB septet
    above 1, v not 27/28) is malformed: each signed value has exactly one encoding.
    """
    if len(p) != SIGNED_READING_LEN:
        return None
    ints = [unpack_uint(p, 5 * i, 35) for i in range(4)]
    sig = p[20:148]
    if max(ints) >= 1 << 32 or not canonical_bytes(sig) or p[148] not in (27, 28):
        return None
    seq, import_wh, export_wh, time_s = ints
    r, s = unpack_bytes(sig[:64]), unpack_bytes(sig[64:])
    return SignedCounters(meter_id, seq, import_wh, export_wh, time_s, p[148], r, s)


def auth_tag(key: bytes, nonce: bytes, msg: bytes) -> bytes:
    """``HMAC-SHA256(key, nonce || msg)[:16]``; ``msg`` starts with the ``06`` byte."""
    return hmac.new(key, nonce + msg, hashlib.sha256).digest()[:TAG_BYTES]


def encode_auth(key: bytes, nonce: bytes, cmd: int, args: bytes) -> bytes:
    """AUTH payload (after the ``06`` command byte): cmd, args, tag septets."""
    msg = bytes((Cmd.AUTH, cmd)) + args
    return msg[1:] + pack_bytes(auth_tag(key, nonce, msg))


def split_auth(payload: bytes) -> tuple[bytes, bytes] | None:
    """Split an AUTH payload into (msg including ``06``, tag septets); ``None`` if too short.

    The tag stays in septets: a meter compares them with the canonical encoding of the
    expected tag, so a tag with a non-canonical septet never matches (§5.6).
    """
    if len(payload) < 1 + TAG_SEPTETS:
        return None
    body, tag = payload[:-TAG_SEPTETS], payload[-TAG_SEPTETS:]
    return bytes((Cmd.AUTH,)) + body, tag


def encode_firmware(name: str, major: int, minor: int) -> bytes:
    """REPORT_FIRMWARE reply payload."""
    return bytes((major, minor)) + pack_bytes(name.encode("ascii", "replace"))


def decode_firmware(p: bytes) -> tuple[str, tuple[int, int]] | None:
    """Decode a REPORT_FIRMWARE payload into (name, (major, minor))."""
    if len(p) < 2:
        return None
    return unpack_bytes(p[2:]).decode("ascii", "replace"), (p[0], p[1])


def decode_string(p: bytes) -> str:
    """Decode a STRING_DATA payload."""
    return unpack_bytes(p).decode("ascii", "replace")
