"""EIP-712 typed meter readings, signed by the meter's attestation key."""

from __future__ import annotations

from dataclasses import dataclass

from eth_account.messages import SignableMessage, encode_typed_data
from eth_account.signers.local import LocalAccount

READING_TYPES = {
    "Reading": [
        {"name": "meterId", "type": "bytes32"},
        {"name": "intervalId", "type": "uint64"},
        {"name": "energyWh", "type": "uint64"},
        {"name": "timestamp", "type": "uint64"},
    ]
}
NO_READING = (b"\0" * 32, 0, 0, 0, 0, b"\0" * 32, b"\0" * 32)


@dataclass(frozen=True)
class SignedReading:
    """A meter's energy counter for one interval, signed for one market contract."""

    meter_id: bytes
    interval_id: int
    energy_wh: int
    timestamp_s: int
    v: int
    r: bytes
    s: bytes

    def as_tuple(self) -> tuple[bytes, int, int, int, int, bytes, bytes]:
        """The ``SignedReading`` struct in ABI order."""
        return (
            self.meter_id,
            self.interval_id,
            self.energy_wh,
            self.timestamp_s,
            self.v,
            self.r,
            self.s,
        )


def _domain(chain_id: int, market: str) -> dict[str, object]:
    return {"name": "GridMarket", "version": "1", "chainId": chain_id, "verifyingContract": market}


def _message(chain_id: int, market: str, reading: SignedReading) -> SignableMessage:
    return encode_typed_data(
        _domain(chain_id, market),
        READING_TYPES,
        {
            "meterId": reading.meter_id,
            "intervalId": reading.interval_id,
            "energyWh": reading.energy_wh,
            "timestamp": reading.timestamp_s,
        },
    )


def sign_reading(
    attestor: LocalAccount,
    *,
    chain_id: int,
    market: str,
    meter_id: bytes,
    interval_id: int,
    energy_wh: int,
    timestamp_s: int,
) -> SignedReading:
    """Sign one reading with the meter's attestation key (EIP-712, domain GridMarket v1)."""
    unsigned = SignedReading(meter_id, interval_id, energy_wh, timestamp_s, 0, b"", b"")
    signed = attestor.sign_message(_message(chain_id, market, unsigned))
    return SignedReading(
        meter_id,
        interval_id,
        energy_wh,
        timestamp_s,
        signed.v,
        signed.r.to_bytes(32, "big"),
        signed.s.to_bytes(32, "big"),
    )
