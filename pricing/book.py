"""The order book: orders, trades, clearings, and the same book as numpy columns.

Energy is integer Wh, prices are integer wei per Wh (LabCredit has 6 decimals, its
smallest unit is called wei), and a trade's value is ``energy_wh * price_wei_per_wh``
exactly. Per-order arrays are int64; the bounds below keep every per-order product
and every cumulative energy inside int64, and sums of values are taken in Python ints.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np

from pricing.errors import PricingInputError

MAX_ENERGY_WH = 10**12
"""Largest energy of one order (1 TWh); keeps energy * price below 2**63."""
MAX_PRICE_WEI_PER_WH = 10**6
"""Largest limit price (1 LABC/Wh, about 4000 times the typical price)."""
MAX_TOTAL_ENERGY_WH = 2**62
"""Largest total energy of one side of a book; cumulative sums stay inside int64."""


class Side(Enum):
    """Which side of the book an order is on."""

    BID = "bid"
    OFFER = "offer"


def _check_int(name: str, value: object, low: int, high: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise PricingInputError(
            f"{name} must be an integer, got {value!r} ({type(value).__name__}); "
            "round energies to whole Wh and prices to whole wei/Wh first"
        )
    if not low <= value <= high:
        raise PricingInputError(f"{name} must be in [{low}, {high}], got {value}")


@dataclass(frozen=True)
class Order:
    """A limit order: buy (BID) or sell (OFFER) up to ``energy_wh`` at ``price_wei_per_wh``."""

    participant: str
    side: Side
    energy_wh: int
    price_wei_per_wh: int
    time_s: float = 0.0

    def __post_init__(self) -> None:
        if not isinstance(self.side, Side):
            raise PricingInputError(f"side must be Side.BID or Side.OFFER, got {self.side!r}")
        _check_int("energy_wh", self.energy_wh, 1, MAX_ENERGY_WH)
        _check_int("price_wei_per_wh", self.price_wei_per_wh, 0, MAX_PRICE_WEI_PER_WH)
        if not np.isfinite(self.time_s):
            raise PricingInputError(f"time_s must be finite, got {self.time_s!r}")


@dataclass(frozen=True)
class Trade:
    """``energy_wh`` sold by ``seller`` to ``buyer`` at ``price_wei_per_wh``."""

    buyer: str
    seller: str
    energy_wh: int
    price_wei_per_wh: int

    @property
    def value_wei(self) -> int:
        """What the buyer pays the seller, exactly, in wei."""
        return int(self.energy_wh) * int(self.price_wei_per_wh)


@dataclass(frozen=True)
class Clearing:
    """The outcome of one market interval.

    ``price_wei_per_wh`` is the uniform price (pay-as-clear) or None when the mechanism
    has no single price or nothing traded. ``volume_wh`` is the energy traded between
    different participants (the sum of the trades); ``netted_wh`` is the energy of a
    participant's own crossing bid and offer, which nets out instead of trading (it stays
    with the participant, nothing is paid). ``welfare_wei`` is the total surplus
    sum(bid limit * filled) - sum(offer limit * filled) of the allocation, netted energy
    included. ``trades`` is any sequence of :class:`Trade` (a lazy one for large books).
    """

    price_wei_per_wh: int | None
    volume_wh: int
    trades: Sequence[Trade]
    mechanism: str = "pay_as_clear"
    welfare_wei: int = 0
    netted_wh: int = 0

    @property
    def value_wei(self) -> int:
        """Sum of the trades' values, in wei."""
        total = getattr(self.trades, "value_wei", None)
        if isinstance(total, int):
            return total
        return sum(t.value_wei for t in self.trades)


@dataclass(frozen=True, eq=False)
class OrderArrays:
    """An order book as numpy columns (for large books): one row per order.

    ``participant`` indexes ``names``; ``is_bid`` is True for bids; ``energy_wh`` and
    ``price_wei_per_wh`` are int64; ``time_s`` is float64. Build with
    :meth:`from_orders` or :meth:`from_columns` (both validate).
    """

    names: tuple[str, ...]
    participant: np.ndarray
    is_bid: np.ndarray
    energy_wh: np.ndarray
    price_wei_per_wh: np.ndarray
    time_s: np.ndarray

    def __len__(self) -> int:
        return int(self.energy_wh.shape[0])

    @classmethod
    def of(cls, orders: Sequence[Order] | OrderArrays) -> OrderArrays:
        """``orders`` as columns (returned as is when they already are)."""
        return orders if isinstance(orders, OrderArrays) else cls.from_orders(orders)

    @classmethod
    def from_orders(cls, orders: Sequence[Order]) -> OrderArrays:
        """Columns of a sequence of :class:`Order` (already validated one by one)."""
        index: dict[str, int] = {}
        participant = np.fromiter(
            (index.setdefault(o.participant, len(index)) for o in orders), np.int64, len(orders)
        )
        return cls(
            names=tuple(index),
            participant=participant,
            is_bid=np.fromiter((o.side is Side.BID for o in orders), bool, len(orders)),
            energy_wh=np.fromiter((o.energy_wh for o in orders), np.int64, len(orders)),
            price_wei_per_wh=np.fromiter(
                (o.price_wei_per_wh for o in orders), np.int64, len(orders)
            ),
            time_s=np.fromiter((o.time_s for o in orders), np.float64, len(orders)),
        )

    @classmethod
    def from_columns(
        cls,
        names: Sequence[str],
        participant: np.ndarray,
        is_bid: np.ndarray,
        energy_wh: np.ndarray,
        price_wei_per_wh: np.ndarray,
        time_s: np.ndarray | None = None,
    ) -> OrderArrays:
        """Validated columns; ``time_s`` defaults to all zeros (arrival in row order)."""
        n = len(energy_wh)
        cols = {
            "participant": np.asarray(participant),
            "is_bid": np.asarray(is_bid),
            "energy_wh": np.asarray(energy_wh),
            "price_wei_per_wh": np.asarray(price_wei_per_wh),
            "time_s": np.zeros(n) if time_s is None else np.asarray(time_s, dtype=np.float64),
        }
        for name, col in cols.items():
            if col.shape != (n,):
                raise PricingInputError(
                    f"column {name} has shape {col.shape}, expected ({n},): "
                    "give every column one entry per order"
                )
        for name in ("participant", "energy_wh", "price_wei_per_wh"):
            if not np.issubdtype(cols[name].dtype, np.integer) and n:
                raise PricingInputError(f"column {name} must hold integers, got {cols[name].dtype}")
        book = cls(
            names=tuple(names),
            participant=cols["participant"].astype(np.int64),
            is_bid=cols["is_bid"].astype(bool),
            energy_wh=cols["energy_wh"].astype(np.int64),
            price_wei_per_wh=cols["price_wei_per_wh"].astype(np.int64),
            time_s=cols["time_s"],
        )
        book._validate()
        return book

    def _validate(self) -> None:
        if len(self) == 0:
            return
        if self.participant.min() < 0 or self.participant.max() >= len(self.names):
            raise PricingInputError("participant indexes must point into names")
        if self.energy_wh.min() < 1 or self.energy_wh.max() > MAX_ENERGY_WH:
            raise PricingInputError(f"energy_wh must be in [1, {MAX_ENERGY_WH}] for every order")
        price = self.price_wei_per_wh
        if price.min() < 0 or price.max() > MAX_PRICE_WEI_PER_WH:
            raise PricingInputError(
                f"price_wei_per_wh must be in [0, {MAX_PRICE_WEI_PER_WH}] for every order"
            )
        if not np.isfinite(self.time_s).all():
            raise PricingInputError("time_s must be finite for every order")
        for side in (self.is_bid, ~self.is_bid):
            if float(self.energy_wh[side].sum(dtype=np.float64)) > MAX_TOTAL_ENERGY_WH:
                raise PricingInputError(
                    f"one side of the book holds more than {MAX_TOTAL_ENERGY_WH} Wh; split it"
                )

    def priority(self, bids: bool) -> np.ndarray:
        """Row indexes of one side in priority order.

        Bids: price descending; offers: price ascending; ties by earlier ``time_s``, then by
        row order. Implemented as one sort of the int64 key
        ``(level * m + time rank) * m + position`` for a side of ``m`` orders (exact while
        ``(MAX_PRICE_WEI_PER_WH + 1) * m * m < 2**63``, i.e. up to 3 million orders a side;
        larger sides use ``np.lexsort``).
        """
        return self.priority_of(np.flatnonzero(self.is_bid if bids else ~self.is_bid), bids)

    def priority_of(self, rows: np.ndarray, bids: bool) -> np.ndarray:
        """The given rows (of one side, increasing) in that side's priority order."""
        m = rows.size
        if m == 0:
            return rows
        price = self.price_wei_per_wh[rows]
        level = MAX_PRICE_WEI_PER_WH - price if bids else price
        position = np.arange(m, dtype=np.int64)
        times = self.time_s[rows]
        if times.min() == times.max():
            return rows[np.sort(level * m + position) % m]
        rank = _time_rank(times)
        if (MAX_PRICE_WEI_PER_WH + 1) * m * m >= 2**63:
            return rows[np.lexsort((position, rank, level))]
        return rows[np.sort((level * m + rank) * m + position) % m]


def _time_rank(times: np.ndarray) -> np.ndarray:
    """For each entry, how many entries are strictly earlier (equal times share a rank)."""
    order = np.argsort(times)
    ordered = times[order]
    run_start = np.empty(times.size, dtype=bool)
    run_start[0] = True
    np.not_equal(ordered[1:], ordered[:-1], out=run_start[1:])
    rank = np.empty(times.size, dtype=np.int64)
    rank[order] = np.maximum.accumulate(np.where(run_start, np.arange(times.size), 0))
    return rank
