"""The packed batch encoding, both ways (no chain needed)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.chain.encoding import (
    MAX_BATCH_TRADES,
    BatchEncodingError,
    PackedTrade,
    decode_batch,
)
from bench.chain.orders import SignedBook, encode_batch
from bench.chain.settlement import encode_settle, encode_settle_abi
from bench.errors import ChainError
from pricing import Trade

NO_ORDERS = SignedBook({})

NAMES = [f"p{i}" for i in range(8)]
INDEX = {name: 3 * i + 1 for i, name in enumerate(NAMES)}

trades_st = st.lists(
    st.builds(
        Trade,
        buyer=st.sampled_from(NAMES),
        seller=st.sampled_from(NAMES),
        energy_wh=st.integers(0, 2**32 - 1),
        price_wei_per_wh=st.integers(0, 2**32 - 1),
    ),
    max_size=60,
)


@given(trades_st)
def test_round_trip_keeps_order_and_fields(trades: list[Trade]) -> None:
    batch, indices = encode_batch(trades, INDEX, NO_ORDERS)
    assert list(indices) == sorted(set(indices))
    assert len(batch) == 2 + 85 * len(indices) + 12 * len(trades)
    assert decode_batch(batch) == tuple(
        PackedTrade(INDEX[t.buyer], INDEX[t.seller], t.energy_wh, t.price_wei_per_wh)
        for t in trades
    )


def test_layout_is_big_endian_and_slot_based() -> None:
    batch, indices = encode_batch([Trade("p2", "p0", 500, 250)], INDEX, NO_ORDERS)
    assert indices == (1, 7)
    no_order = "00" * 81  # no order: 4 x u32 and r, s, v of zeros
    trade = "00010000000001f4000000fa"
    assert batch.hex() == "0002" + "00000001" + no_order + "00000007" + no_order + trade


@pytest.mark.parametrize(("energy", "price"), [(-1, 250), (2**32, 250), (10, -5), (10, 2**32)])
def test_out_of_range_fields_are_refused(energy: int, price: int) -> None:
    with pytest.raises(BatchEncodingError, match="outside"):
        encode_batch([Trade("p0", "p1", energy, price)], INDEX, NO_ORDERS)


def test_too_many_trades_are_refused() -> None:
    trades = [Trade("p0", "p1", 1, 1)] * (MAX_BATCH_TRADES + 1)
    with pytest.raises(BatchEncodingError, match="exceed"):
        encode_batch(trades, INDEX, NO_ORDERS)


@pytest.mark.parametrize(
    "blob", [b"", b"\x00", b"\x00\x02\x00\x00\x00\x01", b"\x00\x00" + b"\x01" * 11]
)
def test_malformed_batches_do_not_decode(blob: bytes) -> None:
    with pytest.raises(BatchEncodingError):
        decode_batch(blob)


readings_st = st.lists(
    st.tuples(
        st.binary(min_size=32, max_size=32),
        st.integers(0, 2**32 - 1),
        st.integers(0, 2**64 - 1),
        st.integers(0, 2**64 - 1),
        st.integers(0, 2**64 - 1),
        st.integers(0, 255),
        st.binary(min_size=32, max_size=32),
        st.binary(min_size=32, max_size=32),
    ),
    max_size=5,
)


@given(
    st.integers(0, 2**64 - 1),
    st.binary(max_size=200),
    readings_st,
    st.binary(min_size=32, max_size=32),
)
def test_settle_calldata_is_the_abis(
    interval_id: int, batch: bytes, readings: list[tuple], digest: bytes
) -> None:
    """Oracle: eth_abi's encoding of the same settle call."""
    assert encode_settle(interval_id, batch, readings, digest) == encode_settle_abi(
        interval_id, batch, readings, digest
    )


@pytest.mark.parametrize(
    "reading",
    [
        (bytes(32), 2**32, 0, 0, 0, 27, bytes(32), bytes(32)),
        (bytes(32), 0, 2**64, 0, 0, 27, bytes(32), bytes(32)),
        (bytes(31), 0, 0, 0, 0, 27, bytes(32), bytes(32)),
        (bytes(32), 0, 0, 0, 0, 256, bytes(32), bytes(32)),
    ],
)
def test_settle_calldata_refuses_out_of_range_fields(reading: tuple) -> None:
    with pytest.raises(ChainError):
        encode_settle(1, b"", [reading])
