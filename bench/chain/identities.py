"""Deterministic keys per name: the same participant or meter gets the same account in
every run, so a restarted bench finds its own state on chain."""

from __future__ import annotations

from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

#: Anvil's first default account (mnemonic "test test ... junk"): the operator on Anvil.
ANVIL_OPERATOR_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"


def participant_account(name: str) -> LocalAccount:
    """The wallet of participant ``name``."""
    return Account.from_key(keccak(text=f"gridbench participant {name}"))


def meter_attestor(meter: str) -> LocalAccount:
    """The attestation key of meter ``meter`` (the key a secure element would hold)."""
    return Account.from_key(keccak(text=f"gridbench meter attestor {meter}"))


def meter_id(meter: str) -> bytes:
    """The on-chain id of meter ``meter``: its name in ASCII, zero-padded to 32 bytes."""
    raw = meter.encode()
    if not 0 < len(raw) <= 32:
        raise ValueError(f"meter name {meter!r} must be 1 to 32 bytes")
    return raw.ljust(32, b"\0")
