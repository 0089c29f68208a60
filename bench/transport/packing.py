"""7-bit packing of integers and byte strings, as in firmware/PROTOCOL.md §3."""

from __future__ import annotations

import functools


@functools.cache
def _shifts(bits: int) -> tuple[int, ...]:
    return tuple(range(0, bits, 7))


def pack_uint(value: int, bits: int) -> bytes:
    """``uN``: ``value`` in ``bits`` bits (a multiple of 7), little-endian septets."""
    if bits % 7 or not 0 <= value < (1 << bits):
        raise ValueError(f"{value} does not fit u{bits}")
    return bytes([(value >> shift) & 0x7F for shift in _shifts(bits)])


def unpack_uint(data: bytes | bytearray, offset: int, bits: int) -> int:
    """Read a ``uN`` at ``offset``; the caller has checked the length."""
    value = 0
    for i, shift in enumerate(_shifts(bits), offset):
        value |= (data[i] & 0x7F) << shift
    return value


def pack_sint(value: int, bits: int) -> bytes:
    """``sN``: two's complement over ``bits`` bits, then packed as ``uN``."""
    half = 1 << (bits - 1)
    if not -half <= value < half:
        raise ValueError(f"{value} does not fit s{bits}")
    return pack_uint(value & ((1 << bits) - 1), bits)


def unpack_sint(data: bytes | bytearray, offset: int, bits: int) -> int:
    """Read an ``sN`` at ``offset``."""
    value = unpack_uint(data, offset, bits)
    return value - (1 << bits) if value >> (bits - 1) else value


def pack_bytes(raw: bytes) -> bytes:
    """``bytes[n]``: each 8-bit byte as two septets, LSB then MSB."""
    out = bytearray()
    for b in raw:
        out += bytes((b & 0x7F, b >> 7))
    return bytes(out)


def unpack_bytes(data: bytes | bytearray) -> bytes:
    """Inverse of :func:`pack_bytes`; an odd trailing septet is ignored."""
    return bytes((data[i] & 0x7F) | ((data[i + 1] & 0x01) << 7) for i in range(0, len(data) - 1, 2))
