"""The interval procedure: orders → clearing → price → settlement → audit, one interval
in, one :class:`IntervalReport` out. No thread, no journal: the worker runs it and its
recorders keep what it returns."""

from __future__ import annotations

from collections.abc import Mapping

from bench.attestation import SignedCounters
from bench.config import ScenarioConfig
from bench.events import IntervalReport, MeteredEnergy
from bench.scenario.agents import Agent
from bench.scenario.market import IntervalMarket
from bench.scenario.settlement import ChainSession


class IntervalProcedure:
    """One market interval at a time, for one scenario's agents on one chain."""

    def __init__(
        self, config: ScenarioConfig, agents: Mapping[str, Agent], chain: ChainSession
    ) -> None:
        self.agents = dict(agents)
        self.chain = chain
        self.market = IntervalMarket(config)

    def run(
        self,
        interval_id: int,
        end_s: float,
        metered: Mapping[str, MeteredEnergy],
        feeder_import_wh: float | None,
        signed: Mapping[str, SignedCounters] | None = None,
    ) -> IntervalReport:
        """Trade, settle (the agents' signed orders, the meters' ``signed`` counters) and
        audit the interval that ended at ``end_s`` (simulated s); then each agent answers
        the cleared price for the next one."""
        orders = tuple(
            order
            for name, agent in self.agents.items()
            for order in agent.orders(metered[name], end_s)
        )
        pricing = self.market.clear(orders, metered)
        settlement = self.chain.settle(
            interval_id, pricing.clearing.trades, metered, orders=orders, signed=signed
        )
        audit = self.market.audit(
            interval_id, orders, metered, pricing, settlement, feeder_import_wh
        )
        for agent in self.agents.values():
            agent.respond_to_price(pricing.clearing.price_wei_per_wh)
        return IntervalReport(
            interval_id=interval_id,
            sim_time_s=end_s,
            metered=tuple(metered.values()),
            feeder_import_wh=feeder_import_wh,
            orders=orders,
            pricing=pricing,
            settlement=settlement,
            audit=audit,
        )
