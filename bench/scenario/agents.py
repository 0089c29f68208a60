"""Market agents: turn each participant's metered energy into orders.

The market is settled ex post on metered energy: at the end of an interval each
agent offers its meter's net export or bids for its net import, at the limit price its
bidding strategy (``pricing.STRATEGIES``) set from what it knew before the interval (the
tariffs and the published instantaneous-price forecast). Orders carry whole Wh; the
sub-Wh rest carries over to the next interval so no energy is lost to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from bench.config import AgentSpec, Role
from bench.events import MeteredEnergy
from pricing import ConstantElasticity, MarketView, Order, Side

__all__ = ["Agent", "AgentSpec", "MeteredEnergy", "Role"]

MIN_LOAD_FACTOR, MAX_LOAD_FACTOR = 0.5, 1.5
"""How far a responsive participant scales its load."""


class Agent:
    """One participant's bidding strategy, its sub-Wh carry-over and its demand response."""

    def __init__(self, spec: AgentSpec, set_load_scale: Callable[[float], None] | None = None):
        self.spec = spec
        self._set_load_scale = set_load_scale
        self._carry_wh = 0.0  # signed sub-Wh rest: > 0 imported, < 0 exported
        self._strategies = {Side.BID: spec.bidding(True), Side.OFFER: spec.bidding(False)}
        self._shout: tuple[Side, int] | None = None
        self.load_scale = 1.0

    def orders(
        self, metered: MeteredEnergy, time_s: float, view: MarketView | None = None
    ) -> list[Order]:
        """One order for the interval's net metered energy: a bid if it imported more than
        it exported, an offer otherwise (never both, so nobody trades with itself).

        ``view`` is what the participant knew before the interval; without one a strategy
        sees its own limit prices as the tariffs.
        """
        net_wh = metered.import_wh - metered.export_wh + self._carry_wh
        whole_wh = math.floor(abs(net_wh))
        self._carry_wh = net_wh - math.copysign(whole_wh, net_wh)
        self._shout = None
        if whole_wh == 0:
            return []
        spec = self.spec
        if view is None:
            bid, offer = spec.bid_price_wei_per_wh, spec.offer_price_wei_per_wh
            view = MarketView(float(bid), float(offer), float(bid))
        side = Side.BID if net_wh > 0 else Side.OFFER
        price = self._strategies[side].price_wei_per_wh(side, view)
        self._shout = (side, price)
        return [Order(spec.participant, side, whole_wh, price, time_s)]

    def observe(self, clearing_wei_per_wh: int | None) -> None:
        """Let the strategy learn from the interval's uniform price (ZIP adapts)."""
        if self._shout is not None:
            side, price = self._shout
            self._strategies[side].observe(side, price, clearing_wei_per_wh)

    def state(self) -> dict[str, Any]:
        """What carries over to the next interval: the sub-Wh rest and what each side's
        strategy learned (JSON-able, for a resumed run)."""
        return {
            "carry_wh": self._carry_wh,
            "bid": self._strategies[Side.BID].state(),
            "offer": self._strategies[Side.OFFER].state(),
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Carry on from :meth:`state`."""
        self._carry_wh = float(state["carry_wh"])
        self._strategies[Side.BID].restore(state["bid"])
        self._strategies[Side.OFFER].restore(state["offer"])

    def respond_to_signal(self, price_wei_per_wh: float | None) -> float:
        """Scale this participant's load for the next interval by the instantaneous price
        published for it: ``ConstantElasticity(−elasticity, reference)``, bounded to
        [0.5, 1.5]. Returns the new scale; a missing price leaves it unchanged."""
        if self.spec.role is not Role.RESPONSIVE or price_wei_per_wh is None:
            return self.load_scale
        demand = ConstantElasticity(
            -self.spec.elasticity,
            float(self.spec.reference_price_wei_per_wh),
            MIN_LOAD_FACTOR,
            MAX_LOAD_FACTOR,
        )
        self.load_scale = demand.load_w(1.0, float(price_wei_per_wh))
        if self._set_load_scale is not None:
            self._set_load_scale(self.load_scale)
        return self.load_scale
