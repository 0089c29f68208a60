"""The packed batch that ``GridMarket.settle`` takes, both ways (see docs/chain.md).

Layout, big-endian: ``u16 k`` participants, ``k × u32`` participant indices in strictly
increasing order, then 12 bytes per trade: ``u16 buyer slot, u16 seller slot,
u32 energy Wh, u32 price wei/Wh`` where a slot is a position in the participant list.
"""

from __future__ import annotations

import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from eth_utils import keccak

from pricing import Trade

MAX_BATCH_TRADES = 8192
MAX_BATCH_PARTICIPANTS = 256
U32_MAX = 2**32 - 1
_TRADE = struct.Struct(">HHII")


class BatchEncodingError(ValueError):
    """A batch cannot be packed: too many trades or a field out of range."""


@dataclass(frozen=True)
class PackedTrade:
    """A trade as the contract sees it: participant indices instead of names."""

    buyer_index: int
    seller_index: int
    energy_wh: int
    price_wei_per_wh: int


def encode_batch(
    trades: Sequence[Trade], index_of: Mapping[str, int]
) -> tuple[bytes, tuple[int, ...]]:
    """(packed batch, participant indices in slot order) for ``trades`` in their order."""
    if len(trades) > MAX_BATCH_TRADES:
        raise BatchEncodingError(
            f"{len(trades)} trades exceed the {MAX_BATCH_TRADES} a settlement takes: "
            "shorten the market interval"
        )
    indices = sorted({index_of[t.buyer] for t in trades} | {index_of[t.seller] for t in trades})
    if len(indices) > MAX_BATCH_PARTICIPANTS:
        raise BatchEncodingError(
            f"{len(indices)} participants exceed the {MAX_BATCH_PARTICIPANTS} per settlement"
        )
    slot = {idx: pos for pos, idx in enumerate(indices)}
    parts = [struct.pack(f">H{len(indices)}I", len(indices), *indices)]
    for n, t in enumerate(trades):
        energy, price = int(t.energy_wh), int(t.price_wei_per_wh)
        if not (0 <= energy <= U32_MAX and 0 <= price <= U32_MAX):
            raise BatchEncodingError(
                f"trade {n} ({t.buyer} <- {t.seller}: {energy} Wh at {price} wei/Wh) is outside "
                "0..2^32-1 Wh or wei/Wh: check the clearing's units"
            )
        parts.append(_TRADE.pack(slot[index_of[t.buyer]], slot[index_of[t.seller]], energy, price))
    return b"".join(parts), tuple(indices)


def decode_batch(batch: bytes) -> tuple[PackedTrade, ...]:
    """The trades of a packed batch, e.g. from a settle transaction's calldata (audit)."""
    if len(batch) < 2:
        raise BatchEncodingError(f"a batch has at least 2 bytes, got {len(batch)}")
    (k,) = struct.unpack_from(">H", batch)
    head = 2 + 4 * k
    if len(batch) < head or (len(batch) - head) % _TRADE.size:
        raise BatchEncodingError(f"batch length {len(batch)} does not fit {k} participants")
    indices = struct.unpack_from(f">{k}I", batch, 2)
    return tuple(
        PackedTrade(indices[b], indices[s], e, p) for b, s, e, p in _TRADE.iter_unpack(batch[head:])
    )


def batch_hash(batch: bytes) -> str:
    """The commitment the contract stores for a settled interval: keccak256 of the batch."""
    return "0x" + keccak(batch).hex()
