"""The scenario worker: meters → orders → clearing → prices → chain → journal → events.

One worker thread runs the whole scenario, one market interval at a time; the
listeners (panel, CLI) only read :attr:`ScenarioRunner.events`.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from concurrent.futures import Future
from datetime import UTC, datetime
from pathlib import Path

from bench.errors import BenchError
from bench.events import BenchStatus, IntervalReport, MeterSample, RunSummary
from bench.scenario.agents import Agent, MeteredEnergy
from bench.scenario.clock import SimClock
from bench.scenario.config import ScenarioConfig
from bench.scenario.fleet import MeterFleet
from bench.scenario.market import IntervalMarket, audit_policy
from bench.scenario.sessions import SupplySessions
from bench.scenario.settlement import ChainSession
from bench.store import Journal

_ONLINE_TIMEOUT_S = 15.0


class ScenarioRunner:
    """Runs a :class:`ScenarioConfig` in a worker thread and reports through a queue."""

    def __init__(self, config: ScenarioConfig, journal_dir: Path | None = None) -> None:
        self.config = config
        self.events: queue.Queue[object] = queue.Queue()
        self.error: BaseException | None = None
        self.summary: RunSummary | None = None
        self._journal_dir = journal_dir
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._main, name="scenario", daemon=True)
        self._fleet: MeterFleet | None = None

    def start(self) -> None:
        """Start the worker thread (once)."""
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()

    def stop(self) -> None:
        """Ask the worker to finish the current interval and wind down."""
        self._stop.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker to end."""
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """True while the worker runs."""
        return self._thread.is_alive()

    def set_relay(self, meter_id: str, closed: bool) -> None:
        """Ask for a meter's relay to switch; the outcome arrives as a BenchStatus event."""
        fleet = self._fleet
        if fleet is None:
            self._status(0.0, "warning", "the meters are not running: start the run first")
            return
        want, done_word = ("close", "closed") if closed else ("open", "opened")
        try:
            future = fleet.set_relay(meter_id, closed)
        except BenchError as exc:
            self._status(0.0, "error", str(exc))
            return

        def done(f: Future[None]) -> None:
            exc = f.exception()
            if exc is None:
                self._status(0.0, "info", f"meter {meter_id}: relay {done_word} (authenticated)")
            else:
                self._status(0.0, "error", f"meter {meter_id}: could not {want} the relay: {exc}")

        future.add_done_callback(done)

    def _status(self, sim_time_s: float, level: str, message: str) -> None:
        self.events.put(BenchStatus(sim_time_s, level, message))

    def _log(self, sim_time_s: float, level: str, message: str, journal: Journal | None) -> None:
        """A status event that is also kept in the run journal."""
        self._status(sim_time_s, level, message)
        if journal is not None:
            journal.add_event(sim_time_s, level, message)

    def _main(self) -> None:
        try:
            self._run()
        except BenchError as exc:
            self.error = exc
            self._status(0.0, "error", str(exc))
        except Exception as exc:  # a bug: report it, never die silently
            self.error = exc
            self._status(0.0, "error", f"internal error: {exc!r}; please report it")
            raise

    def _open_journal(self) -> Journal | None:
        if self._journal_dir is None:
            return None
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        return Journal(self._journal_dir / stamp / "journal.sqlite")

    def _run(self) -> None:
        cfg = self.config
        journal = self._open_journal()
        with contextlib.ExitStack() as stack:
            if journal is not None:
                stack.callback(journal.close)
                journal.set_meta("config", str(cfg.source))
                journal.set_meta("mechanism", cfg.market.mechanism)
                policy = audit_policy(cfg)
                journal.set_meta("loss_fraction", policy.loss_fraction)
                journal.set_meta("tolerance_fraction", policy.tolerance_fraction)
            self._status(0.0, "info", "starting the chain")
            chain = stack.enter_context(ChainSession.open(cfg, self._status))
            clock = SimClock(speed=cfg.speed, start_s=cfg.start_s)
            self._status(cfg.start_s, "info", "starting the meters")
            fleet = stack.enter_context(MeterFleet.open(cfg, clock, self._status))
            self._fleet = fleet
            stack.callback(setattr, self, "_fleet", None)
            if journal is not None:
                journal.set_meta("chain_url", chain.url)
                journal.set_meta("market_address", chain.market.address)
                # The run's keystores (mode 0600), written when the run ends.
                stack.callback(chain.market.keys.save, Path(f"{journal.path}.keys"))
            agents = {
                p.agent.participant: Agent(p.agent, fleet.load_scaler(p.meter_id))
                for p in cfg.participants
            }
            market = IntervalMarket(cfg)
            silent = fleet.wait_online(timeout_s=_ONLINE_TIMEOUT_S)
            if silent:
                self._status(
                    clock.now_s(),
                    "warning",
                    f"meters {', '.join(silent)} sent nothing in {_ONLINE_TIMEOUT_S:.0f} s; "
                    "running without them until they answer (check their ports and cables)",
                )
            t0_s = clock.now_s()
            sessions = stack.enter_context(SupplySessions.open(cfg.sessions, chain, fleet))
            fleet.interval_energy(clock.real_time_of(t0_s))  # count energy from here on
            reports: list[IntervalReport] = []
            for interval_id in range(1, cfg.intervals + 1):
                end_s = t0_s + interval_id * cfg.interval_s
                for message in sessions.start_of_interval(interval_id):
                    self._log(clock.now_s(), "info", message, journal)
                if not self._wait(clock, end_s, fleet, sessions, journal):
                    self._status(clock.now_s(), "info", "stopped by the user")
                    break
                metered, feeder_wh = fleet.interval_energy(clock.real_time_of(end_s))
                report = self._interval(
                    interval_id, end_s, metered, feeder_wh, agents, market, chain, journal
                )
                reports.append(report)
                self.events.put(report)
                for message in sessions.end_of_interval(interval_id):
                    self._log(clock.now_s(), "info", message, journal)
                for agent in agents.values():
                    agent.respond_to_price(report.clearing.price_wei_per_wh)
            summary = RunSummary(
                meters=len(fleet.meter_ids),
                intervals=len(reports),
                trades_settled=sum(len(r.settled_trades) for r in reports),
                trades_rejected=sum(len(r.rejected_trades) for r in reports),
                energy_traded_wh=sum(r.energy_settled_wh for r in reports),
                value_settled_wei=sum(r.value_settled_wei for r in reports),
                chain_url=chain.url,
                market_address=chain.market.address,
                escrow_conserved=chain.escrow_conserved(sessions.balance_changes_wei()),
                audit_clean=not any(r.audit_findings for r in reports),
                journal_path=None if journal is None else str(journal.path),
            )
        self.summary = summary
        self.events.put(summary)

    def _wait(
        self,
        clock: SimClock,
        end_s: float,
        fleet: MeterFleet,
        sessions: SupplySessions,
        journal: Journal | None,
    ) -> bool:
        """Forward live readings until the interval ends; False if stopped."""
        while True:
            now_s = clock.now_s()
            for reading in fleet.drain():
                sample = MeterSample(
                    reading.meter_id,
                    fleet.participant_of(reading.meter_id),
                    now_s,
                    reading.power_w,
                    reading.energy_import_wh,
                    reading.energy_export_wh,
                    reading.relay_closed,
                )
                self.events.put(sample)
                if journal is not None:
                    journal.add_sample(sample)
            for level, message in [*fleet.drain_status(), *sessions.poll()]:
                self._log(clock.now_s(), level, message, journal)
            delay_s = clock.real_delay_s(end_s)
            if delay_s <= 0:
                return True
            if self._stop.wait(min(delay_s, 0.05)):
                return False

    def _interval(
        self,
        interval_id: int,
        end_s: float,
        metered: dict[str, MeteredEnergy],
        feeder_import_wh: float | None,
        agents: dict[str, Agent],
        market: IntervalMarket,
        chain: ChainSession,
        journal: Journal | None,
    ) -> IntervalReport:
        orders = [
            order for name, agent in agents.items() for order in agent.orders(metered[name], end_s)
        ]
        outcome = market.clear(orders, metered)
        settlement = chain.settle(interval_id, outcome.clearing.trades, metered)
        audit = market.audit(interval_id, orders, metered, outcome, settlement, feeder_import_wh)
        findings = audit.messages()
        (balance,) = audit.balances
        if journal is not None:
            for name, energy in metered.items():
                journal.add_metered(interval_id, name, energy.import_wh, energy.export_wh)
            if feeder_import_wh is not None:
                journal.add_feeder(interval_id, feeder_import_wh)
            journal.add_orders(interval_id, orders)
            journal.add_clearing(
                interval_id,
                outcome.clearing.price_wei_per_wh,
                outcome.clearing.volume_wh,
                outcome.components_wei_per_wh,
            )
            journal.add_trades(
                interval_id, settlement.settled_trades, "settled", settlement.tx_hash
            )
            journal.add_trades(
                interval_id,
                [t for t, _ in settlement.rejected_trades],
                "rejected",
                settlement.tx_hash,
                [r for _, r in settlement.rejected_trades],
            )
            for finding in findings:
                journal.add_event(end_s, "audit", finding)
            journal.commit()
        return IntervalReport(
            interval_id=interval_id,
            sim_time_s=end_s,
            clearing=outcome.clearing,
            demand_energy_wh=outcome.demand_energy_wh,
            demand_price_wei_per_wh=outcome.demand_price_wei_per_wh,
            supply_energy_wh=outcome.supply_energy_wh,
            supply_price_wei_per_wh=outcome.supply_price_wei_per_wh,
            price_components_wei_per_wh=outcome.components_wei_per_wh,
            settled_trades=settlement.settled_trades,
            rejected_trades=settlement.rejected_trades,
            tx_hash=settlement.tx_hash,
            gas_used=settlement.gas_used,
            audit_findings=findings,
            feeder_import_wh=feeder_import_wh,
            unexplained_wh=balance.unexplained_wh,
            balance_tolerance_wh=balance.tolerance_wh,
        )
