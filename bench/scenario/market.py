"""One market interval: clear the book, price the instant, audit what was settled.

Wraps :mod:`pricing` with the scenario's state: the recent metered net load (the
storage model's seasonal-naive forecast), the city grid as a counterparty (its orders at
the time-of-use import tariff and the feed-in tariff, which are also the PDE's supply
prices) and the shared battery's state of charge. With a ``[battery]`` the state of
charge is booked from the battery meter's metered energy; without one it follows the
HJB's optimal policy as a simulated store.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from bench.chain import Settlement
from bench.config import ScenarioConfig
from bench.events import MeteredEnergy
from pricing import (
    MECHANISMS,
    AreaClearing,
    AuditReport,
    Forecast,
    GridFlow,
    IntervalPricing,
    IntervalRecord,
    MarketView,
    Order,
    SettledTrade,
    audit,
    clear_areas,
    instantaneous_price,
    price_interval,
)
from pricing.areas import tie_cap_wh, tie_export_wh

_FORECAST_HORIZON_H = 24.0


class IntervalMarket:
    """Clearing, PDE price and audit for successive intervals of one scenario."""

    def __init__(self, config: ScenarioConfig) -> None:
        market = config.market
        self._clear = MECHANISMS[market.mechanism]
        self._step_h = config.market_interval_s / 3600.0
        self._charges = market.charges
        self._storage = config.storage_model
        self._tariff = None if config.grid is None else config.grid.tariff
        self._grid_price = float(max(p.agent.bid_price_wei_per_wh for p in config.participants))
        self._steps = max(2, round(_FORECAST_HORIZON_H / self._step_h))
        self._net_load_history_w: list[float] = []
        self._battery = config.battery
        self.battery_participant = None if config.battery is None else config.battery.participant
        if config.battery is None:
            self.soc_wh = market.storage_capacity_wh / 2
        else:
            self.soc_wh = config.battery.capacity_wh * config.battery.initial_soc_fraction
        self.policy = config.audit_policy
        self.grid_participant = None if config.grid is None else config.grid.participant
        self.areas = config.area_plan
        """The campus and city areas and the aggregator between them (None: one market)."""

    def state(self) -> dict[str, object]:
        """What the next interval starts from: the state of charge and the recent net
        load the forecast is made of (as much of it as the forecast reads)."""
        return {"soc_wh": self.soc_wh, "net_load_w": self._net_load_history_w[-self._steps :]}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Carry on from :meth:`state` (a resumed run)."""
        self.soc_wh = float(state["soc_wh"])
        self._net_load_history_w = [float(w) for w in state["net_load_w"]]

    def supply_prices(self, start_hour: float) -> list[float]:
        """The PDE's external supply price for each forecast step from ``start_hour``: the
        grid's import tariff when a ``[grid]`` is configured, else the largest bid."""
        if self._tariff is None:
            return [self._grid_price] * self._steps
        return [float(p) for p in self._tariff.import_prices(start_hour, self._step_h, self._steps)]

    def grid_orders(self, start_hour: float, time_s: float) -> list[Order]:
        """The grid's offer and bid for the interval starting at ``start_hour`` (none
        without a ``[grid]``)."""
        if self._tariff is None:
            return []
        return self._tariff.orders(start_hour, self._step_h, time_s)

    def view(self, start_hour: float, forecast_price_wei_per_wh: float) -> MarketView:
        """What a participant knows before the interval starting at ``start_hour``."""
        if self._tariff is None:
            high = self._grid_price
            return MarketView(high, float(self._charges.production_cost_wei_per_wh), high)
        return MarketView(
            float(self._tariff.import_tariff_wei_per_wh(start_hour)),
            float(self._tariff.feed_in_wei_per_wh),
            forecast_price_wei_per_wh,
        )

    def tie_wh(self, metered: Mapping[str, MeteredEnergy]) -> float:
        """What the campus sent towards the city (its metered net export; 0 with one
        market): the aggregator's bench-attested counters rise by it both ways."""
        if self.areas is None:
            return 0.0
        return tie_export_wh(
            ((m.participant, m.import_wh, m.export_wh) for m in metered.values()), self.areas
        )

    def clear_areas(
        self, orders: Sequence[Order], metered: Mapping[str, MeteredEnergy]
    ) -> AreaClearing | None:
        """With an ``[aggregator]``: the campus, then the city with the campus's pooled
        surplus (at most its metered net export), and the pass-through (None without)."""
        if self.areas is None:
            return None
        return clear_areas(orders, self.areas, self._clear, tie_wh=tie_cap_wh(self.tie_wh(metered)))

    def clear(
        self,
        orders: Sequence[Order],
        metered: Mapping[str, MeteredEnergy],
        start_hour: float | None = None,
        cleared: AreaClearing | None = None,
    ) -> IntervalPricing:
        """Clear the interval (that began at ``start_hour``; ``cleared``: the two areas'
        clearing already done), re-solve the storage value from the next interval on,
        compose the price and book the state of charge."""
        battery = self.battery_participant
        net_wh = sum(m.import_wh - m.export_wh for n, m in metered.items() if n != battery)
        self._net_load_history_w.append(net_wh / self._step_h)
        next_hour = 0.0 if start_hour is None else start_hour + self._step_h
        forecast = Forecast.persistence(
            self._net_load_history_w[-self._steps :], self.supply_prices(next_hour), self._step_h
        )
        if self._battery is not None and battery is not None and battery in metered:
            m = metered[battery]
            power_w = (m.import_wh - m.export_wh) / self._step_h
            self.soc_wh = self._battery.battery.step(self.soc_wh, power_w, self._step_h)
        soc = self.soc_wh
        result = price_interval(
            orders,
            soc_wh=soc,
            forecast=forecast,
            model=self._storage,
            charges=self._charges,
            mechanism=self._clear if cleared is None else (lambda _book: cleared.clearing),
        )
        if self._battery is None:
            self.soc_wh = result.storage.advance(soc, self._step_h)
        return result

    def battery_setpoint_w(self, pricing: IntervalPricing) -> float:
        """The battery's power for the next interval (+ charging): the HJB policy at the
        booked state of charge, made feasible (0 without a battery)."""
        if self._battery is None:
            return 0.0
        return self._battery.battery.setpoint_w(pricing.storage, self.soc_wh, self._step_h)

    def forecast_price_wei_per_wh(self, pricing: IntervalPricing, next_hour: float) -> float:
        """The instantaneous price published for the interval starting at ``next_hour``.

        Its market part is the grid's tariff on the side the forecast net load falls
        (import tariff in a deficit, feed-in in a surplus), its scarcity the storage value
        at the state of charge now, plus the network charge and tax.
        """
        net_w = self._net_load_history_w[-1] if self._net_load_history_w else 0.0
        if self._tariff is None:
            market = pricing.clearing.price_wei_per_wh
        elif net_w > 0:
            market = self._tariff.import_tariff_wei_per_wh(next_hour)
        else:
            market = self._tariff.feed_in_wei_per_wh
        scarcity = pricing.storage.scarcity_wei_per_wh(self.soc_wh)
        return instantaneous_price(market, scarcity, self._charges).total_wei_per_wh

    def tariff_price_wei_per_wh(self, hour: float) -> float:
        """The instantaneous price the import tariff alone gives at ``hour`` (no scarcity):
        what a flexible load expects for an interval further ahead."""
        view = self.view(hour, 0.0)
        return instantaneous_price(
            round(view.import_tariff_wei_per_wh), 0.0, self._charges
        ).total_wei_per_wh

    def audit(
        self,
        interval_id: int,
        orders: Sequence[Order],
        metered: Mapping[str, MeteredEnergy],
        pricing: IntervalPricing,
        settlement: Settlement,
        feeder_import_wh: float | None = None,
        grid: GridFlow | None = None,
        step_allowance_wh: float = 0.0,
    ) -> AuditReport:
        """Reconcile what settled on chain with the book, the clearing and the meters.

        A cleared trade the chain rejected (its buyer could not pay) is a finding too:
        the energy was delivered and not paid for. With the grid as a counterparty,
        ``grid`` holds the feeder's import and export, which must all be billed or paid.
        ``step_allowance_wh`` widens the energy balance's tolerance for the power steps the
        bench commanded at the interval's start.
        """
        record = IntervalRecord(
            interval_id=interval_id,
            metered=list(metered.values()),
            clearing=pricing.clearing,
            settlements=[SettledTrade.of(t, settlement.tx_hash) for t in settlement.settled_trades],
            feeder_import_wh=feeder_import_wh,
            orders=orders,
            price_components_wei_per_wh=pricing.price.as_dict(),
            grid=grid,
            areas=self.areas,
        )
        return audit([record], self.policy.widened(step_allowance_wh))
