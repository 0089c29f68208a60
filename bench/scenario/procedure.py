"""The interval procedure: orders → clearing → price → settlement → audit, one interval
in, one :class:`IntervalReport` out; then the next interval is prepared: the battery's
setpoint from the HJB policy, the instantaneous price published for it, the
price-responsive and flexible loads answering it. No thread, no journal: the worker runs
it and its recorders keep what it returns."""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any, Protocol

from bench.attestation import SignedCounters
from bench.config import ScenarioConfig
from bench.events import IntervalReport, MeteredEnergy, PriceSignal
from bench.scenario.agents import Agent
from bench.scenario.flexible import FlexibleSchedule
from bench.scenario.market import IntervalMarket
from bench.scenario.settlement import ChainSession
from pricing import GridFlow, MarketView

CarryState = dict[str, Any]
"""What one interval hands the next (:meth:`IntervalProcedure.restore`), JSON-able."""


class LoadControl(Protocol):
    """What the procedure needs of a meter's load control (``bench.rig.LoadControl``)."""

    def true_power_w(self) -> float: ...

    def set_power(self, power_w: float) -> None: ...


class IntervalProcedure:
    """One market interval at a time, for one scenario's agents on one chain.

    ``loads`` are the participants' load controls (by participant name) that the bench
    drives: the battery's setpoint and the flexible loads' power go through them.
    """

    def __init__(
        self,
        config: ScenarioConfig,
        agents: Mapping[str, Agent],
        chain: ChainSession,
        loads: Mapping[str, LoadControl] | None = None,
    ) -> None:
        self.agents = dict(agents)
        self.chain = chain
        self.market = IntervalMarket(config)
        self.loads = dict(loads or {})
        self._start_hour = config.start_hour
        self._step_h = config.market_interval_s / 3600.0
        self.flexible = {
            p.agent.participant: FlexibleSchedule(
                p.agent.flexible, self._step_h, responsive=config.demand_response
            )
            for p in config.participants
            if p.agent.flexible is not None
        }
        self._responsive = config.demand_response
        self.signal: PriceSignal | None = None
        # with the grid as a counterparty a supply point's energy is its owner's: the owner
        # buys it in the market (the supply point's meter backs the purchase, at the import
        # tariff: what is plugged in draws) and bills the session consumer at its tariff
        self._supply_points = (
            {} if config.grid is None else {s.meter_id: s.owner for s in config.sessions}
        )
        for spec in config.supply_owners:
            self.agents.setdefault(spec.participant, Agent(spec))
        # a commanded power step is integrated by the load's meter and the feeder's with up
        # to one reading period of error each (simulated Wh per W of step)
        self._step_wh_per_w = 2.0 * config.bench.reading_interval_s * config.speed / 3600.0
        self._step_allowance_wh = 0.0
        self._utility = config.market.mechanism == "utility"
        self.carry_state: CarryState | None = None
        """What the next interval starts from, as of the last interval run (or restored):
        journaled with each settle intent, restored by a resumed run."""
        self._restored: tuple[float, float | None] | None = None

    def start_hour(self, interval_id: int) -> float:
        """Simulated hour of day at which interval ``interval_id`` (1-based) starts."""
        return self._start_hour + (interval_id - 1) * self._step_h

    def prepare_first(self, sim_time_s: float, interval_id: int = 1) -> PriceSignal:
        """Before the run's first interval: publish its price (the tariff; nothing metered
        yet) and set the flexible loads. On a resume (``interval_id`` after a
        :meth:`restore`) the battery's setpoint and the price are those the interrupted
        run had set for it."""
        restored = self._restored
        if restored is None:
            view = self.market.view(self.start_hour(interval_id), 0.0)
            return self._publish(interval_id, sim_time_s, view.import_tariff_wei_per_wh, view)
        price, setpoint = restored
        battery = self.market.battery_participant
        if setpoint is not None and battery in self.loads:
            self._command(self.loads[battery], lambda load: load.set_power(setpoint))
        view = self.market.view(self.start_hour(interval_id), price)
        return self._publish(interval_id, sim_time_s, price, view)

    def _state(self, interval_id: int, price: float, setpoint_w: float | None) -> CarryState:
        """Everything the interval after ``interval_id`` starts from (JSON-able)."""
        return {
            "interval_id": interval_id,
            "market": self.market.state(),
            "agents": {name: agent.state() for name, agent in self.agents.items()},
            "flexible": {name: f.state() for name, f in self.flexible.items()},
            "signal_wei_per_wh": price,
            "battery_setpoint_w": setpoint_w,
        }

    def restore(self, state: CarryState) -> int:
        """Carry on from the :attr:`carry_state` an interrupted run journaled after an
        interval (returned): the market's state of charge and net-load history, each
        agent's sub-Wh rest and learned strategy, each flexible load's energy drawn, and
        the price and battery setpoint it had set for the next interval."""
        self.market.restore(state["market"])
        for name, agent_state in state["agents"].items():
            if name in self.agents:
                self.agents[name].restore(agent_state)
        for name, flexible_state in state["flexible"].items():
            if name in self.flexible:
                self.flexible[name].restore(flexible_state)
        setpoint = state["battery_setpoint_w"]
        self._restored = (
            float(state["signal_wei_per_wh"]),
            None if setpoint is None else float(setpoint),
        )
        self.carry_state = state
        return int(state["interval_id"])

    def run(
        self,
        interval_id: int,
        end_s: float,
        metered: Mapping[str, MeteredEnergy],
        feeder_import_wh: float | None,
        feeder_wh: tuple[float, float] | None = None,
        signed: Mapping[str, SignedCounters] | None = None,
    ) -> IntervalReport:
        """Trade, settle and audit the interval that ended at ``end_s`` (simulated s);
        then prepare the next one. ``feeder_wh`` is the feeder's (import, export);
        ``signed``: the meters' own signed counters."""
        hour = self.start_hour(interval_id)
        metered = self._attributed(metered)
        allowance_wh, self._step_allowance_wh = self._step_allowance_wh, 0.0
        signal = self.signal
        forecast = signal.price_wei_per_wh if signal is not None else 0.0
        view = self.market.view(hour, forecast)
        orders = tuple(
            order
            for name, agent in self.agents.items()
            for order in agent.orders(metered[name], end_s, view)
        )
        grid_participant = self.market.grid_participant
        orders += tuple(self.market.grid_orders(hour, end_s))
        areas = self.market.clear_areas(orders, metered)
        if areas is not None:  # the aggregator's city offer and campus bid join the book
            orders = areas.orders
        pricing = self.market.clear(orders, metered, hour, areas)
        # the battery's next setpoint goes out as soon as the HJB is solved, before the
        # chain settles: a slow settlement must not leave it on the last interval's power
        setpoint = self.market.battery_setpoint_w(pricing)
        battery = self.market.battery_participant
        if battery is not None and battery in self.loads:
            self._command(self.loads[battery], lambda load: load.set_power(setpoint))
        grid = None
        to_settle: Mapping[str, MeteredEnergy] = metered
        if grid_participant is not None and feeder_wh is not None:
            grid = GridFlow(grid_participant, *feeder_wh)
            # the grid's meter is the feeder: the market reads its counters reversed and
            # allows the expected line losses (the grid buys the surplus as metered at the
            # sellers' meters); a bench-attested feeder is attested as it metered
            counters = MeteredEnergy(grid_participant, *feeder_wh)
            if self._utility:  # no local market: the utility takes and delivers at each meter
                counters = MeteredEnergy(
                    grid_participant,
                    sum(m.export_wh for m in metered.values()),
                    sum(m.import_wh for m in metered.values()),
                )
            to_settle = {**metered, grid_participant: counters}
        if self.market.areas is not None:  # the aggregator's counters: the campus-city tie
            tie_wh = self.market.tie_wh(metered)
            agg = self.market.areas.aggregator
            to_settle = {**to_settle, agg: MeteredEnergy(agg, tie_wh, tie_wh)}
        # what the next interval starts from depends on the clearing, not on the chain:
        # it is known (and journaled with the settle intent) before the settlement is sent
        for agent in self.agents.values():
            agent.observe(pricing.clearing.price_wei_per_wh)
        for name, schedule in self.flexible.items():
            schedule.book(interval_id, metered[name].import_wh)
        next_hour = hour + self._step_h
        price = self.market.forecast_price_wei_per_wh(pricing, next_hour)
        kept_w = setpoint if battery is not None else None
        self.carry_state = self._state(interval_id, price, kept_w)
        settlement = self.chain.settle(
            interval_id, pricing.clearing.trades, to_settle, orders=orders, signed=signed
        )
        audit = self.market.audit(
            interval_id, orders, metered, pricing, settlement, feeder_import_wh, grid, allowance_wh
        )
        report = IntervalReport(
            interval_id=interval_id,
            sim_time_s=end_s,
            metered=tuple(metered.values()),
            feeder_import_wh=feeder_import_wh,
            orders=orders,
            pricing=pricing,
            settlement=settlement,
            audit=audit,
            grid=grid,
            soc_wh=self.market.soc_wh,
            battery_setpoint_w=setpoint if battery is not None else None,
            signal_wei_per_wh=forecast if signal is not None else None,
            step_allowance_wh=allowance_wh,
        )
        self._publish(interval_id + 1, end_s, price, self.market.view(next_hour, price))
        return report

    def _publish(
        self, interval_id: int, sim_time_s: float, price: float, view: MarketView
    ) -> PriceSignal:
        """Publish the instantaneous price for ``interval_id``; the responsive and flexible
        loads answer it (with demand response on)."""
        self.signal = PriceSignal(
            sim_time_s,
            interval_id,
            price,
            view.import_tariff_wei_per_wh,
            view.feed_in_tariff_wei_per_wh,
        )
        if self._responsive:
            for name, agent in self.agents.items():
                load = self.loads.get(name)
                if load is None:
                    agent.respond_to_signal(price)
                else:
                    self._command(load, functools.partial(_respond, agent, price))
        price_of = self._price_of(interval_id, price)
        for name, schedule in self.flexible.items():
            flexible = self.loads.get(name)
            if flexible is not None:
                power_w = schedule.power_w(interval_id, price_of)
                self._command(flexible, functools.partial(_set_power, power_w=power_w))
        return self.signal

    def _command(self, load: LoadControl, change: Callable[[LoadControl], object]) -> None:
        """Change a load and widen the coming interval's energy-balance tolerance by the step."""
        before_w = load.true_power_w()
        change(load)
        self._step_allowance_wh += abs(load.true_power_w() - before_w) * self._step_wh_per_w

    def _attributed(self, metered: Mapping[str, MeteredEnergy]) -> dict[str, MeteredEnergy]:
        """Each supply point's energy as its owner's (with a grid only)."""
        out = dict(metered)
        for meter_id, owner in self._supply_points.items():
            point = out.pop(meter_id, None)
            if point is not None:
                own = out.get(owner, MeteredEnergy(owner, 0.0, 0.0))
                out[owner] = MeteredEnergy(
                    owner, own.import_wh + point.import_wh, own.export_wh + point.export_wh
                )
        return out

    def _price_of(self, next_id: int, price: float) -> Callable[[int], float]:
        """Expected price per interval: the published one next, the tariff's later with the
        same premium over the tariff as the published one (scarcity now)."""
        premium = price - self.market.tariff_price_wei_per_wh(self.start_hour(next_id))

        def price_of(i: int) -> float:
            if i == next_id:
                return price
            return self.market.tariff_price_wei_per_wh(self.start_hour(i)) + premium

        return price_of


def _respond(agent: Agent, price_wei_per_wh: float, _load: LoadControl) -> None:
    agent.respond_to_signal(price_wei_per_wh)


def _set_power(load: LoadControl, *, power_w: float) -> None:
    load.set_power(power_w)
