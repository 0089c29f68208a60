"""Signed orders and the packed settle batch (see docs/chain.md).

A participant signs, per interval, one order (EIP-712, domain GridMarket v3, bound to the
chain id and the market's address) covering both its bid and its offer:
``Order(participant, intervalId, bidEnergyWh, bidLimitPriceWeiPerWh, offerEnergyWh,
offerLimitPriceWeiPerWh)`` (0 Wh on a side: no order on it). The batch packs, per
participant (sorted by index), its index, the four u32 fields and the signature (r, s,
v; zeros for no order), then the trades (u16 buyer slot, u16 seller slot, u32 Wh, u32
wei/Wh).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from coincurve import PrivateKey
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from bench.chain.encoding import (
    MAX_BATCH_PARTICIPANTS,
    MAX_BATCH_TRADES,
    U32_MAX,
    BatchEncodingError,
)
from pricing import Order as BookOrder
from pricing import Side, Trade
from pricing.units import labc_per_kwh

SIDE_BID, SIDE_OFFER = 0, 1
DOMAIN_VERSION = "3"
ORDER_TYPES = {
    "Order": [
        {"name": "participant", "type": "address"},
        {"name": "intervalId", "type": "uint64"},
        {"name": "bidEnergyWh", "type": "uint64"},
        {"name": "bidLimitPriceWeiPerWh", "type": "uint64"},
        {"name": "offerEnergyWh", "type": "uint64"},
        {"name": "offerLimitPriceWeiPerWh", "type": "uint64"},
    ]
}
_ORDER_TYPEHASH = keccak(
    text="Order(" + ",".join(f"{f['type']} {f['name']}" for f in ORDER_TYPES["Order"]) + ")"
)
_DOMAIN_TYPEHASH = keccak(
    text="EIP712Domain(string name,string version,uint256 chainId,address verifyingContract)"
)
_DOMAIN_NAME = "GridMarket"
_NO_ORDER = bytes(81)
_SIDES = struct.Struct(">IIII")
_TRADE = struct.Struct(">HHII")


@dataclass(frozen=True)
class Order:
    """A participant's signed order for an interval: (Wh, limit wei/Wh) per side, (0, 0)
    for no order on that side."""

    bid: tuple[int, int]
    offer: tuple[int, int]
    signature: bytes  # r | s | v (65 bytes)

    def packed(self) -> bytes:
        return _SIDES.pack(*self.bid, *self.offer) + self.signature


def sign_order(
    key: LocalAccount,
    *,
    chain_id: int,
    market: str,
    interval_id: int,
    bid: tuple[int, int] = (0, 0),
    offer: tuple[int, int] = (0, 0),
) -> Order:
    """The participant's signature over its bid and offer (EIP-712), each (Wh, limit)."""
    for wh, limit in (bid, offer):
        if not (0 <= wh <= U32_MAX and 0 <= limit <= U32_MAX):
            raise BatchEncodingError(
                f"order of {wh} Wh at {labc_per_kwh(limit)} LABC/kWh ({limit} wei/Wh) is out "
                "of range: energy and limit must each be 0..2^32-1 (Wh, wei/Wh)"
            )
    if bid[0] == 0 and offer[0] == 0:
        raise BatchEncodingError("an order needs energy on its bid or its offer side")
    struct_hash = keccak(
        _ORDER_TYPEHASH
        + _word(int(key.address, 16))
        + b"".join(_word(v) for v in (interval_id, *bid, *offer))
    )
    digest = keccak(b"\x19\x01" + _domain_separator(chain_id, market) + struct_hash)
    sig = _signing_key(bytes(key.key)).sign_recoverable(digest, hasher=None)
    return Order(bid, offer, sig[:64] + bytes([sig[64] + 27]))


def _word(value: int) -> bytes:
    """One ABI word (uint256, or an address left-padded)."""
    return value.to_bytes(32, "big")


@functools.lru_cache(maxsize=64)
def _domain_separator(chain_id: int, market: str) -> bytes:
    """EIP-712 ``hashStruct(EIP712Domain)`` of the market on its chain."""
    return keccak(
        _DOMAIN_TYPEHASH
        + keccak(text=_DOMAIN_NAME)
        + keccak(text=DOMAIN_VERSION)
        + _word(chain_id)
        + _word(int(market, 16))
    )


@functools.lru_cache(maxsize=1024)
def _signing_key(secret: bytes) -> PrivateKey:
    """A participant's secp256k1 key, its public point derived once (not per order)."""
    return PrivateKey(secret)


@dataclass(frozen=True)
class SignedBook:
    """Each participant's signed order for one interval (absent: none)."""

    orders: Mapping[str, Order]


def covering_orders(trades: Sequence[Trade]) -> dict[str, dict[int, tuple[int, int]]]:
    """Per participant and side, (total Wh, limit price) that covers exactly its trades:
    a buyer's bid at its highest price, a seller's offer at its lowest."""
    out: dict[str, dict[int, tuple[int, int]]] = {}
    for t in trades:
        if t.energy_wh <= 0:
            continue
        for name, side in ((t.buyer, SIDE_BID), (t.seller, SIDE_OFFER)):
            wh, limit = out.setdefault(name, {}).get(side, (0, None))
            price = int(t.price_wei_per_wh)
            if limit is None:
                limit = price
            limit = max(limit, price) if side == SIDE_BID else min(limit, price)
            out[name][side] = (wh + int(t.energy_wh), limit)
    return out


def submitted_orders(orders: Iterable[BookOrder]) -> dict[str, dict[int, tuple[int, int]]]:
    """Per participant and side, (total Wh, limit price) of what it submitted to the
    clearing: the contract takes one bid and one offer per participant, so several bids
    sum their energy at their highest limit, several offers at their lowest."""
    out: dict[str, dict[int, tuple[int, int]]] = {}
    for o in orders:
        side = SIDE_BID if o.side is Side.BID else SIDE_OFFER
        price = int(o.price_wei_per_wh)
        wh, limit = out.setdefault(o.participant, {}).get(side, (0, price))
        limit = max(limit, price) if side == SIDE_BID else min(limit, price)
        out[o.participant][side] = (wh + int(o.energy_wh), limit)
    return out


def encode_batch(
    trades: Sequence[Trade], index_of: Mapping[str, int], book: SignedBook
) -> tuple[bytes, tuple[int, ...]]:
    """(packed batch, participant indices in slot order) for ``trades`` and their orders."""
    if len(trades) > MAX_BATCH_TRADES:
        raise BatchEncodingError(
            f"{len(trades)} trades exceed the {MAX_BATCH_TRADES} a settlement takes: "
            "shorten the market interval"
        )
    names = {t.buyer for t in trades} | {t.seller for t in trades} | set(book.orders)
    by_index = sorted((index_of[n], n) for n in names)
    if len(by_index) > MAX_BATCH_PARTICIPANTS:
        raise BatchEncodingError(
            f"{len(by_index)} participants exceed the {MAX_BATCH_PARTICIPANTS} per settlement"
        )
    slot = {name: pos for pos, (_, name) in enumerate(by_index)}
    parts = [struct.pack(">H", len(by_index))]
    for idx, name in by_index:
        order = book.orders.get(name)
        parts.append(struct.pack(">I", idx))
        parts.append(order.packed() if order else _NO_ORDER)
    for n, t in enumerate(trades):
        energy, price = int(t.energy_wh), int(t.price_wei_per_wh)
        if not (0 <= energy <= U32_MAX and 0 <= price <= U32_MAX):
            raise BatchEncodingError(
                f"trade {n} ({t.buyer} <- {t.seller}: {energy} Wh at {labc_per_kwh(price)} "
                f"LABC/kWh, {price} wei/Wh) is outside 0..2^32-1 Wh or wei/Wh: check the "
                "clearing's units"
            )
        parts.append(_TRADE.pack(slot[t.buyer], slot[t.seller], energy, price))
    return b"".join(parts), tuple(i for i, _ in by_index)
