"""One market interval: clear the book, price the instant, audit what was settled.

Wraps :mod:`pricing` with the scenario's state: the recent metered net load (the
storage model's persistence forecast) and the shared battery's state of charge, which
follows the HJB's optimal policy from one interval to the next.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from bench.chain import Settlement
from bench.config import ScenarioConfig
from bench.events import MeteredEnergy
from pricing import (
    MECHANISMS,
    AuditReport,
    Forecast,
    IntervalPricing,
    IntervalRecord,
    Order,
    SettledTrade,
    audit,
    price_interval,
)

_FORECAST_HORIZON_H = 24.0


class IntervalMarket:
    """Clearing, PDE price and audit for successive intervals of one scenario."""

    def __init__(self, config: ScenarioConfig) -> None:
        market = config.market
        self._clear = MECHANISMS[market.mechanism]
        self._step_h = config.market_interval_s / 3600.0
        self._charges = market.charges
        self._storage = market.storage_model
        self._grid_price = float(max(p.agent.bid_price_wei_per_wh for p in config.participants))
        self._steps = max(2, round(_FORECAST_HORIZON_H / self._step_h))
        self._net_load_history_w: list[float] = []
        self.soc_wh = market.storage_capacity_wh / 2
        self.policy = config.audit_policy

    def clear(
        self, orders: Sequence[Order], metered: Mapping[str, MeteredEnergy]
    ) -> IntervalPricing:
        """Clear the interval, re-solve the storage value, compose the price, move the SoC."""
        net_wh = sum(m.import_wh - m.export_wh for m in metered.values())
        self._net_load_history_w.append(net_wh / self._step_h)
        forecast = Forecast.persistence(
            self._net_load_history_w[-self._steps :],
            [self._grid_price] * self._steps,
            self._step_h,
        )
        soc = self.soc_wh
        result = price_interval(
            orders,
            soc_wh=soc,
            forecast=forecast,
            model=self._storage,
            charges=self._charges,
            mechanism=self._clear,
        )
        self.soc_wh = result.storage.advance(soc, self._step_h)
        return result

    def audit(
        self,
        interval_id: int,
        orders: Sequence[Order],
        metered: Mapping[str, MeteredEnergy],
        pricing: IntervalPricing,
        settlement: Settlement,
        feeder_import_wh: float | None = None,
    ) -> AuditReport:
        """Reconcile what settled on chain with the book, the clearing and the meters.

        A cleared trade the chain rejected (its buyer could not pay) is a finding too:
        the energy was delivered and not paid for.
        """
        record = IntervalRecord(
            interval_id=interval_id,
            metered=list(metered.values()),
            clearing=pricing.clearing,
            settlements=[SettledTrade.of(t, settlement.tx_hash) for t in settlement.settled_trades],
            feeder_import_wh=feeder_import_wh,
            orders=orders,
            price_components_wei_per_wh=pricing.price.as_dict(),
        )
        return audit([record], self.policy)
