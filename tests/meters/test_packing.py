"""7-bit packing (PROTOCOL.md §3): examples from the document and round trips."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bench.transport.packing import (
    pack_bytes,
    pack_sint,
    pack_uint,
    unpack_bytes,
    unpack_sint,
    unpack_uint,
)


def test_examples_from_the_protocol_document() -> None:
    assert pack_uint(1000, 14) == bytes((0x68, 0x07))
    assert pack_sint(-1, 28) == bytes((0x7F,) * 4)
    assert pack_sint(-1000, 14) == bytes((0x18, 0x78))
    assert pack_bytes(b"g") == bytes((0x67, 0x00))
    assert pack_bytes(b"\xff") == bytes((0x7F, 0x01))


@pytest.mark.parametrize("bits", [7, 14, 21, 28, 35])
def test_uint_bounds(bits: int) -> None:
    top = (1 << bits) - 1
    assert unpack_uint(pack_uint(top, bits), 0, bits) == top
    with pytest.raises(ValueError):
        pack_uint(top + 1, bits)
    with pytest.raises(ValueError):
        pack_uint(-1, bits)


@given(st.sampled_from([7, 14, 21, 28, 35]), st.data())
def test_uint_round_trip_and_septets(bits: int, data: st.DataObject) -> None:
    value = data.draw(st.integers(0, (1 << bits) - 1))
    packed = pack_uint(value, bits)
    assert len(packed) == bits // 7
    assert all(b < 0x80 for b in packed)
    assert unpack_uint(b"\x00" + packed, 1, bits) == value


@given(st.sampled_from([14, 28]), st.data())
def test_sint_round_trip(bits: int, data: st.DataObject) -> None:
    half = 1 << (bits - 1)
    value = data.draw(st.integers(-half, half - 1))
    assert unpack_sint(pack_sint(value, bits), 0, bits) == value


@given(st.binary(max_size=64))
def test_bytes_round_trip(raw: bytes) -> None:
    packed = pack_bytes(raw)
    assert len(packed) == 2 * len(raw)
    assert all(b < 0x80 for b in packed)
    assert unpack_bytes(packed) == raw
