"""Decoding the packed batch that ``GridMarket.settle`` takes (the audit's side; the
bench packs it in :mod:`bench.chain.orders`). Layout in docs/chain.md."""

from __future__ import annotations

import struct
from dataclasses import dataclass

from eth_utils import keccak

MAX_BATCH_TRADES = 4096
MAX_BATCH_PARTICIPANTS = 128
U32_MAX = 2**32 - 1
RECORD_BYTES = 85  # u32 index, 4 x u32 (bid Wh, limit, offer Wh, limit), r, s, v
_TRADE = struct.Struct(">HHII")


class BatchEncodingError(ValueError):
    """A batch cannot be packed or unpacked: too many trades or a field out of range."""


@dataclass(frozen=True)
class PackedTrade:
    """A trade as the contract sees it: participant indices instead of names."""

    buyer_index: int
    seller_index: int
    energy_wh: int
    price_wei_per_wh: int


def decode_batch(batch: bytes) -> tuple[PackedTrade, ...]:
    """The trades of a packed batch, e.g. from a settle transaction's calldata (audit)."""
    if len(batch) < 2:
        raise BatchEncodingError(f"a batch has at least 2 bytes, got {len(batch)}")
    (k,) = struct.unpack_from(">H", batch)
    head = 2 + RECORD_BYTES * k
    if len(batch) < head or (len(batch) - head) % _TRADE.size:
        raise BatchEncodingError(f"batch length {len(batch)} does not fit {k} participants")
    indices = [struct.unpack_from(">I", batch, 2 + RECORD_BYTES * i)[0] for i in range(k)]
    trades = []
    for b, s, e, p in _TRADE.iter_unpack(batch[head:]):
        if b >= k or s >= k:
            raise BatchEncodingError(f"trade slot {max(b, s)} is outside the {k} participants")
        trades.append(PackedTrade(indices[b], indices[s], e, p))
    return tuple(trades)


def batch_hash(batch: bytes) -> str:
    """The commitment the contract stores for a settled interval: keccak256 of the batch."""
    return "0x" + keccak(batch).hex()
