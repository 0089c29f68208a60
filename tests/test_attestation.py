"""The signed-reading message against an independent construction and a signer round trip."""

from __future__ import annotations

import hashlib
import secrets

import pytest
from eth_keys import keys

from bench.attestation import (
    SECP256K1_N,
    SignedCounters,
    meter_id_bytes32,
    reading_message,
    sign_counters,
)


def test_message_layout_is_the_documented_64_bytes() -> None:
    mid = meter_id_bytes32("pv-1")
    msg = reading_message(mid, 7, 1234, 56, 900)
    # Independent construction, byte by byte, from the documented layout.
    expected = (
        b"GBR1"
        + b"pv-1"
        + bytes(28)
        + (7).to_bytes(4, "big")
        + (1234).to_bytes(8, "big")
        + (56).to_bytes(8, "big")
        + (900).to_bytes(8, "big")
    )
    assert msg == expected
    assert len(msg) == 64


def test_signature_recovers_the_meter_address_and_is_low_s() -> None:
    key = secrets.token_bytes(32)
    address = keys.PrivateKey(key).public_key.to_checksum_address()
    for seq in range(20):
        signed = sign_counters(
            key,
            meter_id=meter_id_bytes32("m"),
            seq=seq,
            import_wh=seq * 10,
            export_wh=0,
            time_s=seq,
        )
        assert int.from_bytes(signed.s, "big") <= SECP256K1_N // 2
        assert signed.v in (27, 28)
        assert signed.signer_address() == address
        assert (
            signed.digest()
            == hashlib.sha256(reading_message(signed.meter_id, seq, seq * 10, 0, seq)).digest()
        )


def test_a_changed_counter_recovers_another_address() -> None:
    key = secrets.token_bytes(32)
    address = keys.PrivateKey(key).public_key.to_checksum_address()
    signed = sign_counters(
        key, meter_id=meter_id_bytes32("m"), seq=1, import_wh=5, export_wh=0, time_s=1
    )
    forged = SignedCounters(**{**signed.__dict__, "export_wh": 5000})
    assert forged.signer_address() != address


def test_an_r_of_no_curve_point_is_a_value_error() -> None:
    """r = 0 is no x coordinate on secp256k1: no key recovers (eth_keys' own
    BadSignature must not escape the documented ValueError)."""
    signed = sign_counters(
        secrets.token_bytes(32),
        meter_id=meter_id_bytes32("m"),
        seq=1,
        import_wh=1,
        export_wh=0,
        time_s=1,
    )
    forged = SignedCounters(**{**signed.__dict__, "r": bytes(32)})
    with pytest.raises(ValueError, match="recovers no key"):
        forged.signer_address()


def test_high_s_is_refused() -> None:
    signed = sign_counters(
        secrets.token_bytes(32),
        meter_id=meter_id_bytes32("m"),
        seq=1,
        import_wh=1,
        export_wh=0,
        time_s=1,
    )
    high = SECP256K1_N - int.from_bytes(signed.s, "big")
    flipped = SignedCounters(
        **{**signed.__dict__, "s": high.to_bytes(32, "big"), "v": 55 - signed.v}
    )
    with pytest.raises(ValueError, match="lower half"):
        flipped.signer_address()


def test_meter_id_must_fit_bytes32() -> None:
    with pytest.raises(ValueError):
        meter_id_bytes32("x" * 33)
