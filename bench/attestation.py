"""Meter-signed counters: the one definition of the signed-reading message.

A meter signs its cumulative import and export counters with its own secp256k1 key;
the bench relays the signature, the contract verifies it with ``ecrecover``. The
signed message is 64 bytes, exactly one SHA-256 block of data:

    b"GBR1" || meter_id (32 bytes) || seq (uint32) || import_wh (uint64)
            || export_wh (uint64) || time_s (uint64)

all big-endian. ``meter_id`` is the meter's ASCII id left-aligned and zero-padded to
32 bytes (the on-chain ``bytes32``). The digest is ``SHA-256(message)``, signed as
ECDSA over secp256k1 with a deterministic nonce (RFC 6979), normalised to low s
(s <= n/2), ``v = 27 + recovery id``. ``seq`` strictly increases per signed reading,
also across reboots; ``time_s`` is the meter's own clock (seconds, never decreasing,
also across reboots; simulated seconds on an accelerated emulator). The firmware, the
Python emulator, the bench and the contract all build this same message.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

MAGIC = b"GBR1"
SECP256K1_N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
_LAYOUT = struct.Struct(">4s32sIQQQ")


def meter_id_bytes32(meter_id: str) -> bytes:
    """The meter's ASCII id as the on-chain ``bytes32`` (left-aligned, zero-padded)."""
    raw = meter_id.encode("ascii")
    if not 1 <= len(raw) <= 32:
        raise ValueError(f"meter id {meter_id!r} must be 1-32 ASCII characters")
    return raw.ljust(32, b"\0")


def reading_message(
    meter_id: bytes, seq: int, import_wh: int, export_wh: int, time_s: int
) -> bytes:
    """The 64 signed bytes of one reading (see the module docstring)."""
    if len(meter_id) != 32:
        raise ValueError("meter_id must be the 32-byte on-chain id")
    return _LAYOUT.pack(MAGIC, meter_id, seq, import_wh, export_wh, time_s)


def reading_digest(meter_id: bytes, seq: int, import_wh: int, export_wh: int, time_s: int) -> bytes:
    """SHA-256 of :func:`reading_message`: what the meter signs."""
    return hashlib.sha256(reading_message(meter_id, seq, import_wh, export_wh, time_s)).digest()


@dataclass(frozen=True)
class SignedCounters:
    """A meter's cumulative counters (whole Wh) and its signature over them."""

    meter_id: bytes
    seq: int
    import_wh: int
    export_wh: int
    time_s: int
    v: int
    r: bytes
    s: bytes

    def digest(self) -> bytes:
        """The signed digest."""
        return reading_digest(self.meter_id, self.seq, self.import_wh, self.export_wh, self.time_s)

    def signer_address(self) -> str:
        """The checksummed address that signed this reading (raises ``ValueError`` if none)."""
        from eth_keys import keys  # lazy: eth_keys costs start-up time

        if self.v not in (27, 28):
            raise ValueError(f"v must be 27 or 28, got {self.v}")
        s_int = int.from_bytes(self.s, "big")
        if not 0 < s_int <= SECP256K1_N // 2:
            raise ValueError("s is not in the lower half of the curve order")
        from eth_keys.exceptions import BadSignature

        signature = keys.Signature(vrs=(self.v - 27, int.from_bytes(self.r, "big"), s_int))
        try:
            public_key = signature.recover_public_key_from_msg_hash(self.digest())
        except BadSignature as exc:  # no point of the curve has this r
            raise ValueError(f"the signature recovers no key: {exc}") from exc
        return public_key.to_checksum_address()


def sign_counters(
    private_key: bytes,
    *,
    meter_id: bytes,
    seq: int,
    import_wh: int,
    export_wh: int,
    time_s: int,
) -> SignedCounters:
    """Sign counters as a meter does (RFC 6979 nonce, low s, v = 27 + recovery id)."""
    from eth_keys import keys

    digest = reading_digest(meter_id, seq, import_wh, export_wh, time_s)
    sig = keys.PrivateKey(private_key).sign_msg_hash(digest)
    v, r, s = sig.v, sig.r, sig.s
    if s > SECP256K1_N // 2:
        s, v = SECP256K1_N - s, v ^ 1
    return SignedCounters(
        meter_id,
        seq,
        import_wh,
        export_wh,
        time_s,
        27 + v,
        r.to_bytes(32, "big"),
        s.to_bytes(32, "big"),
    )
