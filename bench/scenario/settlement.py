"""The scenario's chain session: start or attach, deploy, fund, settle, check escrow."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

from bench.chain import Anvil, Market, Settlement
from bench.config import ScenarioConfig
from bench.scenario.agents import MeteredEnergy
from pricing import Trade

StatusSink = Callable[[float, str, str], None]


class ChainSession:
    """One market on one chain for one scenario run."""

    def __init__(
        self,
        market: Market,
        url: str,
        participants: Sequence[str],
        meters: Mapping[str, str] | None = None,
        interval_s: float = 900.0,
    ) -> None:
        self.market = market
        self.url = url
        self.participants = tuple(participants)
        self.meters = dict(meters or {p: p for p in participants})
        self.interval_s = interval_s
        self._import_wh: dict[str, float] = dict.fromkeys(participants, 0.0)
        self._export_wh: dict[str, float] = dict.fromkeys(participants, 0.0)
        self._initial_total_wei = self._total_wei()
        self._initial_balance_wei = {p: market.balance_wei(p) for p in participants}
        self._net_change_wei: dict[str, int] = dict.fromkeys(participants, 0)

    @classmethod
    @contextlib.contextmanager
    def open(cls, config: ScenarioConfig, status: StatusSink) -> Iterator[ChainSession]:
        """Start Anvil (or attach to ``config.chain_url``), deploy, and fund the participants."""
        with contextlib.ExitStack() as stack:
            if config.chain_url:
                url = config.chain_url
                status(0.0, "info", f"attaching to the chain at {url}")
            else:
                node = stack.enter_context(Anvil())
                url = node.url
                status(0.0, "info", f"Anvil started at {url}")
            market = Market.deploy(url)
            names = [p.agent.participant for p in config.participants]
            meters = {p.agent.participant: p.meter_id for p in config.participants}
            market.add_participants(names, config.deposit_wei, meters=meters)
            status(0.0, "info", f"market {market.address} deployed; {len(names)} wallets funded")
            yield cls(market, url, names, meters, config.market_interval_s)

    def _total_wei(self) -> int:
        """Everything the participants own: wallets plus what the market holds."""
        wallets = sum(self.market.accounts.wallet_wei(p) for p in self.participants)
        return wallets + self.market.total_holdings_wei()

    def settle(
        self, interval_id: int, trades: Sequence[Trade], metered: Mapping[str, MeteredEnergy]
    ) -> Settlement:
        """Settle the interval's trades, each participant signing the orders that cover its
        own trades, with each meter's cumulative import and export counters (whole Wh
        since the run started) attested by the bench, timed at the interval's end."""
        for name, energy in metered.items():
            self._import_wh[name] = self._import_wh.get(name, 0.0) + energy.import_wh
            self._export_wh[name] = self._export_wh.get(name, 0.0) + energy.export_wh
        sign = self.market.registry.attestor.sign
        time_s = math.floor(interval_id * self.interval_s)
        readings = [
            sign(
                self.meters.get(name, name),
                math.floor(self._import_wh[name]),
                math.floor(self._export_wh[name]),
                time_s,
            )
            for name in self._import_wh
        ]
        settlement = self.market.settle_interval(interval_id, trades, readings)
        for trade in settlement.settled_trades:
            self._net_change_wei[trade.buyer] -= trade.value_wei
            self._net_change_wei[trade.seller] += trade.value_wei
        return settlement

    def escrow_conserved(self, session_changes_wei: Mapping[str, int] | None = None) -> bool:
        """True when settlement created or destroyed nothing.

        Two checks: wallets plus market holdings are what they were before the first
        settlement, and every prepaid balance moved by exactly the value of the trades
        settled for it plus ``session_changes_wei`` (caps escrowed by open supply
        sessions, bills paid by consumers to supply-point owners, who start at 0).
        """
        if self._total_wei() != self._initial_total_wei:
            return False
        changes = dict(session_changes_wei or {})
        for name in self.participants:
            expected = (
                self._initial_balance_wei[name] + self._net_change_wei[name] + changes.pop(name, 0)
            )
            if self.market.balance_wei(name) != expected:
                return False
        return all(self.market.balance_wei(name) == wei for name, wei in changes.items())
