"""Order signatures against eth_account's EIP-712 (the independent oracle).

:func:`sign_order` hashes the typed data itself (the domain separator once per market)
and signs with the participant's key kept derived; RFC 6979 makes a signature a function
of key and digest, so it must equal, byte for byte, what eth_account's
``encode_typed_data`` + ``sign_message`` give for the same order.
"""

from __future__ import annotations

import random

import pytest
from eth_account import Account
from eth_account.messages import encode_typed_data

from bench.chain.orders import DOMAIN_VERSION, ORDER_TYPES, sign_order


def _oracle(key: object, chain_id: int, market: str, interval_id: int, bid, offer) -> bytes:  # type: ignore[no-untyped-def]
    domain = {
        "name": "GridMarket",
        "version": DOMAIN_VERSION,
        "chainId": chain_id,
        "verifyingContract": market,
    }
    message = {
        "participant": key.address,  # type: ignore[attr-defined]
        "intervalId": interval_id,
        "bidEnergyWh": bid[0],
        "bidLimitPriceWeiPerWh": bid[1],
        "offerEnergyWh": offer[0],
        "offerLimitPriceWeiPerWh": offer[1],
    }
    signed = key.sign_message(encode_typed_data(domain, ORDER_TYPES, message))  # type: ignore[attr-defined]
    return signed.r.to_bytes(32, "big") + signed.s.to_bytes(32, "big") + bytes([signed.v])


@pytest.mark.parametrize("seed", range(4))
def test_each_signature_is_eth_accounts_eip712_signature(seed: int) -> None:
    rng = random.Random(seed)
    keys = [Account.from_key(rng.randbytes(32)) for _ in range(5)]
    markets = [Account.from_key(rng.randbytes(32)).address for _ in range(2)]
    for _ in range(40):
        key, market = rng.choice(keys), rng.choice(markets)
        chain_id = rng.choice([1, 31337, 2**40 + 7])
        interval_id = rng.randrange(1, 10**6)
        bid = (rng.choice([0, rng.randrange(1, 2**32)]), rng.randrange(0, 2**32))
        offer = (rng.randrange(1, 2**32), rng.randrange(0, 2**32)) if not bid[0] else (0, 0)
        order = sign_order(
            key, chain_id=chain_id, market=market, interval_id=interval_id, bid=bid, offer=offer
        )
        assert order.signature == _oracle(key, chain_id, market, interval_id, bid, offer)
