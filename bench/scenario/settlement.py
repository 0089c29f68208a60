"""The scenario's chain session: start or attach, deploy, fund, commission the meters
(meter-signed or bench-attested), settle the signed orders, check escrow."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator, Mapping, Sequence

from bench.attestation import SignedCounters
from bench.chain import Anvil, Market, Settlement
from bench.chain.client import TxLog
from bench.chain.deployment import wait_all
from bench.chain.encoding import MAX_BATCH_PARTICIPANTS
from bench.chain.keys import KeyRing
from bench.chain.registry import MAX_LOSS_ALLOWANCE_BP
from bench.config import ScenarioConfig
from bench.errors import ConfigError
from bench.events import MeterAttested, SignedReadingMissing
from bench.scenario.agents import MeteredEnergy
from bench.scenario.fleet import MeterFleet
from bench.scenario.signing import MeterSigners
from pricing import Order, Trade

StatusSink = Callable[[float, str, str], None]


def grid_allowance_bp(config: ScenarioConfig) -> int:
    """The grid meter's loss allowance (basis points): the audit's expected line losses
    plus its tolerance (the meters' accuracy), as a fraction of the energy injected,
    rounded up, at most the contract's 10 %."""
    policy = config.audit_policy
    fraction = policy.loss_fraction + policy.tolerance_fraction
    return min(MAX_LOSS_ALLOWANCE_BP, math.ceil(round(fraction * 10_000, 6)))


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
        self._signers: MeterSigners | None = None
        self.bench_only: set[str] = set()
        """Meters the bench attests whatever their kind (the utility's summed counters)."""
        self.grid_meter: tuple[str, int] | None = None
        """(meter id, loss allowance in basis points) of the grid connection, if any."""
        self._settled_time_s = 0
        self.origin_s = 0.0
        """Simulated instant interval 1 starts: bench-attested readings are timed from it."""
        self.node: Anvil | None = None
        """The bench's own Anvil (None when attached to a node)."""
        self.attestation: dict[str, dict[str, str]] = {}
        """Per meter: {"attestation": "meter" | "bench", "signer": address on chain}."""
        self.journal_head: Callable[[], str | None] = lambda: None
        """The run journal's chained digest so far, committed with each settlement."""

    @classmethod
    @contextlib.contextmanager
    def open(
        cls, config: ScenarioConfig, status: StatusSink, tx_log: TxLog | None = None
    ) -> Iterator[ChainSession]:
        """Start Anvil (or attach to ``config.chain_url``), deploy, and fund the participants
        with the keys the config names (``key_file``, ``operator_key_file``) or fresh ones.
        Their meters are registered by :meth:`commission` (or as bench-attested on the
        first settlement). ``tx_log`` is told of every transaction, the first one on."""
        participants = len(config.participant_meters)
        if participants > MAX_BATCH_PARTICIPANTS:  # before any node starts
            raise ConfigError(
                f"{participants} market participants, but one settlement takes at most "
                f"{MAX_BATCH_PARTICIPANTS} (the most that fit one transaction's gas): "
                "put fewer [[participants]] in the config"
            )
        with contextlib.ExitStack() as stack:
            if config.chain_url:
                url = config.chain_url
                status(0.0, "info", f"attaching to the chain at {url}")
            else:
                node = stack.enter_context(Anvil())
                url = node.url
                status(0.0, "info", f"Anvil started at {url}")
            key_files = {p.agent.participant: p.key_file for p in config.participants}
            keys = KeyRing({n: path for n, path in key_files.items() if path is not None})
            market = Market.deploy(
                url,
                keys=keys,
                operator_key_file=config.operator_key_file,
                allow_anvil_key=config.allow_well_known_key,
                tx_log=tx_log,
            )
            meters = config.participant_meters
            names = list(meters)
            market.add_participants(names, config.deposit_wei, register_meters=False)
            status(0.0, "info", f"market {market.address} deployed; {len(names)} wallets funded")
            session = cls(market, url, names, meters, config.market_interval_s)
            session.node = None if config.chain_url else node
            if config.grid is not None and config.market.mechanism == "utility":
                # the utility trades at every meter: its counters are their sum, unsigned
                session.bench_only = {meters[config.grid.participant]}
            elif config.grid is not None:  # the feeder's counters back the grid's trades
                session.grid_meter = (meters[config.grid.participant], grid_allowance_bp(config))
            if config.aggregator is not None:  # the campus-city tie, summed by the bench
                session.bench_only |= {meters[config.aggregator.participant]}
            yield session

    @classmethod
    def reattach(
        cls,
        config: ScenarioConfig,
        market: Market,
        url: str,
        node: Anvil | None,
        counters_wh: Mapping[str, Sequence[float]] | None = None,
    ) -> ChainSession:
        """The session of a killed run, continued on its chain and market (``market``
        attached with the run's keys): its meters as registered, each one's cumulative
        counters and reading sequence as the chain last accepted them, so the next
        settlement's readings follow on. ``node``: the bench's own Anvil, if it runs one.
        ``counters_wh`` (:meth:`counters_wh` as journaled at the chain's last settlement)
        keeps their sub-Wh rests where their whole Wh are the chain's."""
        meters = config.participant_meters
        session = cls(market, url, list(meters), meters, config.market_interval_s)
        session.node = node
        session.bench_only = {meters[config.grid.participant]} if config.grid else set()
        if config.aggregator is not None:
            session.bench_only |= {meters[config.aggregator.participant]}
        registry = market.registry
        for name, meter in meters.items():
            market.accounts.index(name)  # the wallet's index: trades read back by name
            kind, last = registry.attestation(meter), registry.last_counters(meter)
            if kind == "unregistered":
                continue
            session.attestation[meter] = {
                "attestation": "meter" if kind == "meter-signed" else "bench",
                "signer": registry.signer(meter),
            }
            kept = (counters_wh or {}).get(name)
            if kept is not None and (math.floor(kept[0]), math.floor(kept[1])) == (
                last.import_wh,
                last.export_wh,
            ):
                session._import_wh[name], session._export_wh[name] = kept[0], kept[1]
            else:  # the chain's whole Wh: the sub-Wh rests start again
                session._import_wh[name] = last.import_wh
                session._export_wh[name] = last.export_wh
            session._settled_time_s = max(session._settled_time_s, last.time_s)
            if kind != "meter-signed":
                registry.attestor.follow(meter, last.seq)
        return session

    def counters_wh(self) -> dict[str, list[float]]:
        """Each participant's cumulative (import, export) Wh as the bench attests them,
        sub-Wh rests included (journaled with each settle intent for a resume)."""
        return {name: [self._import_wh[name], self._export_wh[name]] for name in self._import_wh}

    def resume_signers(self, fleet: MeterFleet) -> list[MeterAttested]:
        """After :meth:`reattach`, with the meters up again: the meter-signed meters read
        with the signer the chain registered for each (a meter that now signs with
        another key gives a ``SignedReadingMissing`` at each interval, its trades
        unbacked). Returns how each meter is attested."""
        signed = [m for m, how in self.attestation.items() if how["attestation"] == "meter"]
        self._signers = MeterSigners(fleet, signed)
        self._signers.signers = {m: self.attestation[m]["signer"] for m in signed}
        return [
            MeterAttested(0.0, m, how["attestation"], how["signer"])
            for m, how in self.attestation.items()
        ]

    def commission(self, fleet: MeterFleet | None, sim_time_s: float) -> list[MeterAttested]:
        """Register every participant's meter: meter-signed (its signer address and first
        signed reading, read over the wire) where its kind signs and it answers, else
        attested by the bench. Returns how each one is attested."""
        own = {n: m for n, m in self.meters.items() if m not in self.bench_only}
        events, self._signers = self.register_meters(self.meters, fleet, sim_time_s, own=own)
        return events

    def register_meters(
        self,
        meters: Mapping[str, str],
        fleet: MeterFleet | None,
        sim_time_s: float,
        *,
        own: Mapping[str, str] | None = None,
    ) -> tuple[list[MeterAttested], MeterSigners | None]:
        """Register ``meters`` (owner -> meter): those in ``own`` (default all) meter-signed
        where their kind signs and they answer, the others attested by the bench; the
        grid's meter (the feeder) as the market's grid connection. Returns how each one
        is attested and the signers of the meter-signed ones."""
        signed: dict[str, tuple[str, SignedCounters]] = {}
        why: dict[str, str] = {}
        signers = None
        if fleet is not None:
            signers = MeterSigners(fleet, (meters if own is None else own).values())
            signed, why = signers.commission()
        registry = self.market.registry
        pending = []
        for name, meter in meters.items():
            signer, first = signed.get(meter, (None, None))
            grid = self.grid_meter is not None and self.grid_meter[0] == meter
            pending += registry.send_register(
                meter,
                name,
                "grid connection" if grid else f"supply point of {name}",
                signer=signer,
                commissioning=first,
                grid_loss_allowance_bp=self.grid_meter[1] if grid and self.grid_meter else None,
            )
        wait_all(pending)
        events = []
        for meter in dict.fromkeys(meters.values()):
            kind = "meter" if meter in signed else "bench"
            self.attestation[meter] = {"attestation": kind, "signer": registry.signer(meter)}
            events.append(
                MeterAttested(sim_time_s, meter, kind, registry.signer(meter), why.get(meter, ""))
            )
        return events, signers

    def signed_readings(
        self, sim_time_s: float
    ) -> tuple[dict[str, SignedCounters], list[SignedReadingMissing]]:
        """A new signed reading from each meter-signed meter; a typed event for each missing."""
        if self._signers is None:
            return {}, []
        got, failed = self._signers.readings()
        return got, [SignedReadingMissing(sim_time_s, m, why) for m, why in failed.items()]

    def meter_signed_reading(self, meter_id: str) -> SignedCounters | None:
        """A fresh reading signed by the meter itself, if it is registered meter-signed
        (None if it is attested by the bench); a meter that gives none is a DeviceError."""
        if self._signers is None or self._attested_by(meter_id) != "meter":
            return None
        return self._signers.reading(meter_id)

    def bench_time_s(self, sim_time_s: float) -> int:
        """A bench-attested reading's time: whole simulated seconds since :attr:`origin_s`
        (the meters' energy accrues in simulated time, so the rated-power bound holds)."""
        return max(0, math.ceil(sim_time_s - self.origin_s))

    def bench_counters(self, meter_id: str) -> tuple[int, int, int] | None:
        """(import Wh, export Wh, time s) the bench last attested for a participant's meter
        at a settlement (None for a meter that is no participant's)."""
        owner = next((p for p, m in self.meters.items() if m == meter_id), None)
        if owner is None or owner not in self._import_wh:
            return None
        return (
            math.floor(self._import_wh[owner]),
            math.floor(self._export_wh[owner]),
            self._settled_time_s,
        )

    def note_starting_balance(self, name: str) -> None:
        """Take ``name``'s prepaid balance now as where it starts (a supply point's owner
        in a resumed run, not a participant; a new run's owners start at 0)."""
        if name not in self.participants:
            self._initial_balance_wei[name] = self.market.balance_wei(name)

    def _total_wei(self) -> int:
        """Everything the participants own: wallets plus what the market holds."""
        wallets = sum(self.market.accounts.wallet_wei(p) for p in self.participants)
        return wallets + self.market.total_holdings_wei()

    def settle(
        self,
        interval_id: int,
        trades: Sequence[Trade],
        metered: Mapping[str, MeteredEnergy],
        *,
        orders: Sequence[Order] | None = None,
        signed: Mapping[str, SignedCounters] | None = None,
    ) -> Settlement:
        """Settle the interval's trades against the bids and offers each participant
        submitted and signed (``orders``; without them, each signs what covers its own
        trades), with each meter-signed meter's own ``signed`` counters and, for the
        bench-attested ones, their cumulative import and export (whole Wh since the run
        started) signed by the bench, timed at the interval's end."""
        if not self.attestation:
            self.commission(None, 0.0)
        for name, energy in metered.items():
            self._import_wh[name] = self._import_wh.get(name, 0.0) + energy.import_wh
            self._export_wh[name] = self._export_wh.get(name, 0.0) + energy.export_wh
        sign = self.market.registry.attestor.sign
        time_s = self._settled_time_s = math.floor(interval_id * self.interval_s)
        readings = [
            sign(
                self.meters.get(name, name),
                math.floor(self._import_wh[name]),
                math.floor(self._export_wh[name]),
                time_s,
            )
            for name in self._import_wh
            if self._attested_by(self.meters.get(name, name)) == "bench"
        ]
        readings += [r for m, r in (signed or {}).items() if self._attested_by(m) == "meter"]
        book = (
            None if orders is None else self.market.settler.sign_book(interval_id, submitted=orders)
        )
        settlement = self.market.settle_interval(
            interval_id, trades, readings, book=book, journal_digest=self.journal_head()
        )
        for trade in settlement.settled_trades:
            self._net_change_wei[trade.buyer] -= trade.value_wei
            self._net_change_wei[trade.seller] += trade.value_wei
        return settlement

    def commit_journal(self, through_interval_id: int) -> str | None:
        """Commit the journal's digest through its last interval (which no settlement
        carries); returns the transaction hash, None without a journal."""
        head = self.journal_head()
        if head is None:
            return None
        return self.market.commit_journal(through_interval_id, head)

    def _attested_by(self, meter: str) -> str:
        return self.attestation.get(meter, {}).get("attestation", "bench")

    def escrow_conserved(self, session_changes_wei: Mapping[str, int] | None = None) -> bool:
        """True when settlement created or destroyed nothing.

        Two checks: wallets plus market holdings are what they were before the first
        settlement, and every prepaid balance moved by exactly the value of the trades
        settled for it plus ``session_changes_wei`` (caps escrowed by open supply
        sessions, bills paid by consumers to supply-point owners, who start at 0 or, in a
        resumed run, at their balance at the resume: :meth:`note_starting_balance`).
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
        return all(
            self.market.balance_wei(name) == self._initial_balance_wei.get(name, 0) + wei
            for name, wei in changes.items()
        )
