"""Bidding strategies: how a participant sets its limit price each interval.

Every strategy has one interface: :meth:`price_wei_per_wh(side, view)` gives the limit
price for an order on ``side`` given the interval's :class:`MarketView`, and
:meth:`observe(side, price, clearing)` lets it learn from the interval's outcome
(only ZIP uses it). Prices are whole wei/Wh, clipped to ``[0, MAX_PRICE_WEI_PER_WH]``.
:meth:`state` and :meth:`restore` carry what a strategy learned across a restart (a
resumed run): a JSON-able dict, empty for the strategies that learn nothing.

* ``FixedStrategy`` — a constant price.
* ``TariffStrategy`` — a position ``k`` between the feed-in (0) and import tariff (1).
* ``SignalStrategy`` — the instantaneous-price forecast for the interval, shaded by
  ``offset`` (buyers add it, sellers subtract it), clipped to the tariffs.
* ``ZIPStrategy`` — Zero-Intelligence-Plus (Cliff 1997): a profit margin ``μ`` on a limit
  price (the import tariff for a buyer, the feed-in tariff for a seller), moved after each
  clearing by the Widrow–Hoff rule with momentum towards a target just above or below
  the clearing price.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from pricing.book import MAX_PRICE_WEI_PER_WH, Side
from pricing.errors import PricingInputError


@dataclass(frozen=True)
class MarketView:
    """What a participant knows before an interval (wei/Wh)."""

    import_tariff_wei_per_wh: float
    feed_in_tariff_wei_per_wh: float
    forecast_price_wei_per_wh: float


class BiddingStrategy(Protocol):
    """The interface every strategy implements."""

    def price_wei_per_wh(self, side: Side, view: MarketView) -> int:
        """The limit price for this interval's order on ``side``."""
        ...

    def observe(self, side: Side, price_wei_per_wh: int, clearing_wei_per_wh: int | None) -> None:
        """Learn from the interval: own price, the uniform price (None if nothing cleared)."""
        ...

    def state(self) -> dict[str, Any]:
        """What it learned so far (JSON-able; empty when it learns nothing)."""
        ...

    def restore(self, state: dict[str, Any]) -> None:
        """Carry on from :meth:`state` as it was."""
        ...


def _whole(price: float) -> int:
    return int(min(max(round(price), 0), MAX_PRICE_WEI_PER_WH))


@dataclass
class FixedStrategy:
    """A constant limit price."""

    price: int

    def price_wei_per_wh(self, side: Side, view: MarketView) -> int:
        return _whole(self.price)

    def observe(self, side: Side, price_wei_per_wh: int, clearing_wei_per_wh: int | None) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None


@dataclass
class TariffStrategy:
    """``feed_in + k (import − feed_in)``: k = 0 bids the feed-in tariff, 1 the import tariff."""

    k: float = 0.5

    def __post_init__(self) -> None:
        if not 0.0 <= self.k <= 1.0:
            raise PricingInputError(f"tariff strategy k must be in [0, 1], got {self.k}")

    def price_wei_per_wh(self, side: Side, view: MarketView) -> int:
        low, high = view.feed_in_tariff_wei_per_wh, view.import_tariff_wei_per_wh
        return _whole(low + self.k * (high - low))

    def observe(self, side: Side, price_wei_per_wh: int, clearing_wei_per_wh: int | None) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None


@dataclass
class SignalStrategy:
    """The forecast instantaneous price ± ``offset`` (buyers +, sellers −), within the tariffs."""

    offset_wei_per_wh: float = 0.0

    def price_wei_per_wh(self, side: Side, view: MarketView) -> int:
        shade = self.offset_wei_per_wh if side is Side.BID else -self.offset_wei_per_wh
        price = view.forecast_price_wei_per_wh + shade
        low, high = view.feed_in_tariff_wei_per_wh, view.import_tariff_wei_per_wh
        return _whole(min(max(price, low), high))

    def observe(self, side: Side, price_wei_per_wh: int, clearing_wei_per_wh: int | None) -> None:
        return None

    def state(self) -> dict[str, Any]:
        return {}

    def restore(self, state: dict[str, Any]) -> None:
        return None


@dataclass
class ZIPStrategy:
    """Zero-Intelligence-Plus (Cliff 1997, HP Labs HPL-97-91), for a call market.

    Shout price ``p = λ (1 + μ)`` with limit ``λ`` = import tariff (buyer, ``μ ∈ [−1, 0]``)
    or feed-in tariff (seller, ``μ ≥ 0``). After a clearing at ``q``:

    * seller: traded (``p ≤ q``) → raise the margin; not traded while ``p ≥ q`` → lower it;
    * buyer: traded (``p ≥ q``) → raise the margin (lower ``p``); not traded while ``p ≤ q``
      → lower it (raise ``p``);
    * nothing cleared: sellers lower, buyers lower their margin (reach for a trade), with
      ``q`` taken as the own price.

    Raising targets ``τ = R q + A`` with ``R ~ U[1, 1 + c_R]``, ``A ~ U[0, c_A]`` (seller)
    or ``R ~ U[1 − c_R, 1]``, ``A ~ U[−c_A, 0]`` (buyer), lowering the mirror image. Then
    ``Δ = β (τ − p)``, ``Γ ← γ Γ + (1 − γ) Δ``, ``μ ← (p + Γ)/λ − 1`` (clipped to its range).
    ``rng`` draws ``R`` and ``A`` (``rng.uniform(low, high)``).
    """

    margin: float
    beta: float = 0.3
    gamma: float = 0.05
    c_r: float = 0.05
    c_a: float = 5.0
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    momentum: float = 0.0
    limit: float = 0.0

    def price_wei_per_wh(self, side: Side, view: MarketView) -> int:
        self.limit = (
            view.import_tariff_wei_per_wh if side is Side.BID else view.feed_in_tariff_wei_per_wh
        )
        return _whole(self.limit * (1.0 + self._clip(side, self.margin)))

    def observe(self, side: Side, price_wei_per_wh: int, clearing_wei_per_wh: int | None) -> None:
        p = float(price_wei_per_wh)
        q = p if clearing_wei_per_wh is None else float(clearing_wei_per_wh)
        seller = side is Side.OFFER
        # at a uniform price q a seller asking p ≤ q (a buyer bidding p ≥ q) traded
        widen = clearing_wei_per_wh is not None and (p <= q if seller else p >= q)
        up = widen == seller  # the price moves up when a seller widens or a buyer narrows
        r = self.rng.uniform(1.0, 1.0 + self.c_r) if up else self.rng.uniform(1.0 - self.c_r, 1.0)
        a = self.rng.uniform(0.0, self.c_a) if up else self.rng.uniform(-self.c_a, 0.0)
        delta = self.beta * (r * q + a - p)
        self.momentum = self.gamma * self.momentum + (1.0 - self.gamma) * delta
        if self.limit > 0:
            self.margin = self._clip(side, (p + self.momentum) / self.limit - 1.0)

    def state(self) -> dict[str, Any]:
        return {
            "margin": self.margin,
            "momentum": self.momentum,
            "limit": self.limit,
            "rng": self.rng.bit_generator.state,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.margin = float(state["margin"])
        self.momentum = float(state["momentum"])
        self.limit = float(state["limit"])
        self.rng.bit_generator.state = state["rng"]

    @staticmethod
    def _clip(side: Side, margin: float) -> float:
        return min(max(margin, -1.0), 0.0) if side is Side.BID else max(margin, 0.0)


STRATEGIES: dict[str, type] = {
    "fixed": FixedStrategy,
    "tariff": TariffStrategy,
    "signal": SignalStrategy,
    "zip": ZIPStrategy,
}
"""Strategy classes by the name a participant's config gives (``strategy = "zip"``)."""
