"""Matched order pairs as numpy columns, and their conversion to :class:`Clearing`."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

import numpy as np

from pricing.book import Clearing, OrderArrays, Trade

_INT64_SAFE = float(2**62)


class Trades(Sequence[Trade]):
    """The trades of a matching as a read-only sequence built from numpy columns.

    ``Trade`` objects (and the buyers' and sellers' names) are made only when read
    (indexing, iteration), so clearing a large book through the public API costs what the
    arrays cost. Compares equal to any sequence of the same trades (a tuple, a list).
    """

    __slots__ = ("_bid_row", "_energy", "_names", "_offer_row", "_participant", "_price")

    def __init__(
        self,
        names: tuple[str, ...],
        participant: np.ndarray,
        bid_row: np.ndarray,
        offer_row: np.ndarray,
        energy_wh: np.ndarray,
        price_wei_per_wh: np.ndarray,
    ) -> None:
        """``participant`` (indexes into ``names``) per book row; the other columns per
        trade, ``bid_row``/``offer_row`` indexing the book."""
        self._names = names
        self._participant = participant
        self._bid_row = bid_row
        self._offer_row = offer_row
        self._energy = energy_wh
        self._price = price_wei_per_wh

    def __len__(self) -> int:
        return int(self._energy.shape[0])

    @overload
    def __getitem__(self, index: int) -> Trade: ...
    @overload
    def __getitem__(self, index: slice) -> Trades: ...
    def __getitem__(self, index: int | slice) -> Trade | Trades:
        if isinstance(index, slice):
            return Trades(
                self._names,
                self._participant,
                self._bid_row[index],
                self._offer_row[index],
                self._energy[index],
                self._price[index],
            )
        names, who = self._names, self._participant
        return Trade(
            names[int(who[self._bid_row[index]])],
            names[int(who[self._offer_row[index]])],
            int(self._energy[index]),
            int(self._price[index]),
        )

    def __iter__(self) -> Iterator[Trade]:
        names, who = self._names, self._participant
        columns = (
            who[self._bid_row].tolist(),
            who[self._offer_row].tolist(),
            self._energy.tolist(),
            self._price.tolist(),
        )
        for b, s, e, p in zip(*columns, strict=True):
            yield Trade(names[b], names[s], e, p)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Sequence) or isinstance(other, str | bytes):
            return NotImplemented
        return len(self) == len(other) and tuple(self) == tuple(other)

    def __hash__(self) -> int:
        return hash(tuple(self))

    def __repr__(self) -> str:
        return f"Trades({list(self)!r})"

    @property
    def value_wei(self) -> int:
        """Sum of the trades' values, exactly."""
        return exact_dot(self._energy, self._price)


@dataclass(frozen=True, eq=False)
class Matching:
    """The result of a mechanism on an :class:`OrderArrays` book, one row per matched pair.

    ``bid_row``/``offer_row`` index the book; ``energy_wh`` and ``price_wei_per_wh`` are the
    pair's traded energy and price (int64); no pair has the same participant on both
    sides. ``clearing_price_wei_per_wh`` is the uniform price (None if the mechanism has
    none or nothing traded); ``price_range`` the competitive-equilibrium interval
    ``(p_lo, p_hi)`` it was chosen from (pay-as-clear with the equilibrium rule), else None.
    ``netted_wh`` is the own energy netted out (see :class:`Clearing`); ``welfare_wei`` is
    the allocation's surplus, netted energy included.
    """

    mechanism: str
    bid_row: np.ndarray
    offer_row: np.ndarray
    energy_wh: np.ndarray
    price_wei_per_wh: np.ndarray
    clearing_price_wei_per_wh: int | None
    volume_wh: int
    welfare_wei: int
    netted_wh: int = 0
    price_range: tuple[int, int] | None = None

    @classmethod
    def build(
        cls,
        mechanism: str,
        bid_row: np.ndarray,
        offer_row: np.ndarray,
        energy_wh: np.ndarray,
        price_wei_per_wh: np.ndarray,
        clearing_price: int | None,
        *,
        welfare_wei: int,
        netted_wh: int = 0,
        price_range: tuple[int, int] | None = None,
    ) -> Matching:
        """Fill in the traded volume (an exact integer) from the matched pairs."""
        return cls(
            mechanism=mechanism,
            bid_row=bid_row,
            offer_row=offer_row,
            energy_wh=energy_wh,
            price_wei_per_wh=price_wei_per_wh,
            clearing_price_wei_per_wh=clearing_price,
            volume_wh=exact_sum(energy_wh),
            welfare_wei=welfare_wei,
            netted_wh=netted_wh,
            price_range=price_range,
        )

    def to_clearing(self, book: OrderArrays) -> Clearing:
        """The dataclass view: the trades (a lazy :class:`Trades`), in matching order."""
        trades = Trades(
            book.names,
            book.participant,
            self.bid_row,
            self.offer_row,
            self.energy_wh,
            self.price_wei_per_wh,
        )
        return Clearing(
            price_wei_per_wh=self.clearing_price_wei_per_wh,
            volume_wh=self.volume_wh,
            trades=trades,
            mechanism=self.mechanism,
            welfare_wei=self.welfare_wei,
            netted_wh=self.netted_wh,
        )


def allocation_welfare(
    book: OrderArrays,
    bid_rows: np.ndarray,
    bid_fill: np.ndarray,
    offer_rows: np.ndarray,
    offer_fill: np.ndarray,
) -> int:
    """Σ bid limit · filled − Σ offer limit · filled, exactly."""
    price = book.price_wei_per_wh
    return exact_dot(bid_fill, price[bid_rows]) - exact_dot(offer_fill, price[offer_rows])


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
