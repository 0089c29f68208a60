"""Matched order pairs as numpy columns, and their conversion to :class:`Clearing`."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pricing.book import Clearing, OrderArrays, Trade

_INT64_SAFE = float(2**62)


@dataclass(frozen=True, eq=False)
class Matching:
    """The result of a mechanism on an :class:`OrderArrays` book, one row per matched pair.

    ``bid_row``/``offer_row`` index the book; ``energy_wh`` and ``price_wei_per_wh`` are the
    pair's traded energy and price (int64). ``clearing_price_wei_per_wh`` is the uniform
    price (None if the mechanism has none or nothing traded).
    """

    mechanism: str
    bid_row: np.ndarray
    offer_row: np.ndarray
    energy_wh: np.ndarray
    price_wei_per_wh: np.ndarray
    clearing_price_wei_per_wh: int | None
    volume_wh: int
    welfare_wei: int

    @classmethod
    def build(
        cls,
        mechanism: str,
        book: OrderArrays,
        bid_row: np.ndarray,
        offer_row: np.ndarray,
        energy_wh: np.ndarray,
        price_wei_per_wh: np.ndarray,
        clearing_price: int | None,
    ) -> Matching:
        """Fill in volume and welfare (exact integers) from the matched pairs."""
        surplus = book.price_wei_per_wh[bid_row] - book.price_wei_per_wh[offer_row]
        return cls(
            mechanism=mechanism,
            bid_row=bid_row,
            offer_row=offer_row,
            energy_wh=energy_wh,
            price_wei_per_wh=price_wei_per_wh,
            clearing_price_wei_per_wh=clearing_price,
            volume_wh=exact_sum(energy_wh),
            welfare_wei=exact_dot(energy_wh, surplus),
        )

    def to_clearing(self, book: OrderArrays) -> Clearing:
        """The dataclass view: one :class:`Trade` per matched pair, in matching order."""
        names = book.names
        columns = (
            book.participant[self.bid_row].tolist(),
            book.participant[self.offer_row].tolist(),
            self.energy_wh.tolist(),
            self.price_wei_per_wh.tolist(),
        )
        trades = tuple(Trade(names[b], names[s], e, p) for b, s, e, p in zip(*columns, strict=True))
        return Clearing(
            price_wei_per_wh=self.clearing_price_wei_per_wh,
            volume_wh=self.volume_wh,
            trades=trades,
            mechanism=self.mechanism,
            welfare_wei=self.welfare_wei,
        )


def exact_sum(values: np.ndarray) -> int:
    """Exact sum of an int64 array: in int64 when no partial sum can overflow, else in Python."""
    if float(np.abs(values).sum(dtype=np.float64)) < _INT64_SAFE:
        return int(values.sum(dtype=np.int64))
    return _sum_python(values)


def exact_dot(a: np.ndarray, b: np.ndarray) -> int:
    """Exact sum of ``a * b`` for int64 arrays whose element products fit in int64."""
    products = a * b
    if float(np.abs(products).sum(dtype=np.float64)) < _INT64_SAFE:
        return int(products.sum(dtype=np.int64))
    return _sum_python(products)


def _sum_python(values: np.ndarray) -> int:
    return sum(values.tolist())


def empty_matching(mechanism: str) -> Matching:
    """A matching with no trades."""
    none = np.zeros(0, dtype=np.int64)
    return Matching(mechanism, none, none, none, none, None, 0, 0)
