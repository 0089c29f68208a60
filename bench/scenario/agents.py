"""Market agents: turn each participant's metered energy into orders.

The market is settled ex post on metered energy: at the end of an interval each
agent offers its meter's net export or bids for its net import, at its limit price.
Orders carry whole Wh; the sub-Wh rest carries over to the next interval so no
energy is lost to rounding.
"""

from __future__ import annotations

import math
from collections.abc import Callable

from bench.config import AgentSpec, Role
from bench.events import MeteredEnergy
from pricing import Order, Side

__all__ = ["Agent", "AgentSpec", "MeteredEnergy", "Role"]


class Agent:
    """One participant's trading strategy with its sub-Wh carry-over."""

    def __init__(self, spec: AgentSpec, set_load_scale: Callable[[float], None] | None = None):
        self.spec = spec
        self._set_load_scale = set_load_scale
        self._carry_wh = 0.0  # signed sub-Wh rest: > 0 imported, < 0 exported
        self.load_scale = 1.0

    def orders(self, metered: MeteredEnergy, time_s: float) -> list[Order]:
        """One order for the interval's net metered energy: a bid if it imported more than
        it exported, an offer otherwise (never both, so nobody trades with itself)."""
        net_wh = metered.import_wh - metered.export_wh + self._carry_wh
        whole_wh = math.floor(abs(net_wh))
        self._carry_wh = net_wh - math.copysign(whole_wh, net_wh)
        if whole_wh == 0:
            return []
        spec = self.spec
        if net_wh > 0:
            return [Order(spec.participant, Side.BID, whole_wh, spec.bid_price_wei_per_wh, time_s)]
        return [Order(spec.participant, Side.OFFER, whole_wh, spec.offer_price_wei_per_wh, time_s)]

    def respond_to_price(self, price_wei_per_wh: float | None) -> float:
        """Scale this participant's load for the next interval by the price (demand response).

        ``scale = (reference / price) ** elasticity``, clipped to [0.5, 1.5]. Returns
        the new scale; a missing price leaves it unchanged.
        """
        if self.spec.role is not Role.RESPONSIVE or price_wei_per_wh is None:
            return self.load_scale
        price = max(float(price_wei_per_wh), 1.0)
        scale = (self.spec.reference_price_wei_per_wh / price) ** self.spec.elasticity
        self.load_scale = min(1.5, max(0.5, scale))
        if self._set_load_scale is not None:
            self._set_load_scale(self.load_scale)
        return self.load_scale
