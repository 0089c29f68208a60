"""The scenario worker: owns the thread, the stop and pause flags and the typed events.

It starts the chain and the meters, then hands each interval's metered energy to the
:class:`IntervalProcedure` and emits what comes back, with the live samples and status,
to its queue (:attr:`ScenarioWorker.events`, drained by the panel or the CLI) and to its
recorders (the run journal), all on its own thread.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import threading
import time
from collections.abc import Callable, Iterable, Sequence, Set
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from bench.chain import Anvil, Market
from bench.chain.settlement import SETTLE_SELECTOR
from bench.config import ScenarioConfig
from bench.errors import BenchError
from bench.events import (
    BenchEvent,
    BenchStatus,
    EnergyCatchUp,
    EnergyUnaccounted,
    IntervalReport,
    LinkState,
    MeterLate,
    MeterSample,
    NoLoadControl,
    RunStarted,
    RunSummary,
    SettleIntent,
    StatusEvent,
    SupplyPointFinding,
    WorkerState,
    WorkerStatus,
)
from bench.scenario.agents import Agent, Role
from bench.scenario.clock import SimClock
from bench.scenario.fleet import MeterFleet
from bench.scenario.procedure import IntervalProcedure
from bench.scenario.sent_txs import JournalTxLog
from bench.scenario.sessions import SupplySessions
from bench.scenario.settlement import ChainSession
from bench.scenario.supply_points import SupplyPoints
from bench.store import Recorder
from bench.store.digest import config_sha256
from pricing import Finding

_TICK_S = 0.05
ANVIL_STATE = "anvil-state.json"
"""The bench's own Anvil's state, saved beside the journal when due (see
:meth:`ScenarioWorker._state_due`)."""
METER_MEMORY = "meters"
"""The folder, beside the journal, where the meters the bench runs itself keep their
EEPROM (``<id>.eeprom`` emulated, ``<id>.eep`` simavr): a resumed run finds them with
their counters and keys."""
ANVIL_PID = "anvil.pid"
"""The bench's own Anvil's process id and port and the bench's process id (JSON), beside
the journal while it runs: a resume (or the next run) stops the Anvil a killed bench
left behind."""


@dataclass(frozen=True)
class Continuation:
    """Where a resumed run picks up: its market (attached with the run's keys) on its
    chain, and the first interval still to run. ``node`` is the bench's own Anvil (or
    None on an attached node); the worker stops it at the end."""

    market: Market
    url: str
    node: Anvil | None
    first_interval: int
    last_recorded: int = 0
    """The journal's last recorded interval: its digest is the one to commit when no
    interval is left to run."""
    findings: tuple[EnergyUnaccounted, ...] = ()
    """What the resume could not account for: emitted (and journaled) as the run goes on."""
    before: tuple[int, int, int, int, int] = (0, 0, 0, 0, 0)
    """(intervals, trades settled, trades rejected, energy Wh, value wei) the run settled
    before the resume (recovered ones included): the summary is the whole run's."""
    counters_at_stop: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per meter, its (import, export) counters at the last settled interval's end, from
    the journaled readings: a meter that kept counting while the bench was down (one the
    rig does not start) has the energy since then attributed to the outage."""
    supply_power_w: dict[str, float] = field(default_factory=dict)
    """Per supply point, the most power its meter showed before the stop: a session
    reattached within that power's lead of its cap is closed, not unlocked."""
    carry_state: dict[str, Any] | None = None
    """What the first interval still to run starts from (the battery's state of charge,
    the strategies' learning, the flexible loads' energy drawn, the published price), as
    journaled with the last settled interval's intent; None: the run starts them afresh."""


_FINAL_WAIT_S = 10.0  # for meters still late at the run's end whose link is up
STATE_SAVE_SHARE = 0.1
"""The most of the run's wall time saving Anvil's state may take: its dump holds every
block and transaction, so it grows with the run (60 MB after 336 intervals of 41 meters),
and saving it after every interval made a week's run quadratic."""
STATE_SAVE_MAX_INTERVALS = 32
"""Anvil's state is saved at least this often (intervals): a restarted node sends again
what it lost from each wallet's last 256 transactions."""


class ScenarioWorker:
    """Runs a :class:`ScenarioConfig` in a worker thread; events go to a queue and to
    ``recorders``."""

    def __init__(
        self,
        config: ScenarioConfig,
        recorders: Sequence[Recorder] = (),
        continuation: Continuation | None = None,
    ) -> None:
        self.config = config
        self.continuation = continuation
        """A killed run carried on (``gridbench run --resume``); None for a new run."""
        self.events: queue.Queue[BenchEvent] = queue.Queue()
        self.recorders = tuple(recorders)
        self.error: BaseException | None = None
        self.summary: RunSummary | None = None
        self._stop = threading.Event()
        self._running = threading.Event()  # cleared while paused
        self._running.set()
        self._thread = threading.Thread(target=self._main, name="scenario", daemon=True)
        self._fleet: MeterFleet | None = None
        self._clock: SimClock | None = None
        self._requests: queue.Queue[Callable[[SupplyPoints], StatusEvent | None]] = queue.Queue()
        self._findings = 0
        self._late_intervals: set[int] = set()  # a meter was cut late at their boundary
        self._notes: queue.SimpleQueue[str] = queue.SimpleQueue()  # from other threads
        self._state_saved = (0.0, 0.0, 0)  # (monotonic s at the end, duration s, interval)
        self._procedure: IntervalProcedure | None = None
        self._supply: SupplyPoints | None = None

    # -- control, from any thread ------------------------------------------------------
    def start(self) -> None:
        """Start the worker thread (once)."""
        if not self._thread.is_alive() and self._thread.ident is None:
            self._thread.start()

    def stop(self) -> None:
        """Finish the interval in progress and wind down."""
        self._stop.set()
        self._running.set()

    def pause(self) -> None:
        """Hold after the interval in progress: simulated time stops until :meth:`resume`."""
        self._running.clear()

    def resume(self) -> None:
        """Carry on after :meth:`pause`."""
        self._running.set()

    def join(self, timeout: float | None = None) -> None:
        """Wait for the worker to end."""
        if self._thread.ident is not None:
            self._thread.join(timeout)

    def is_alive(self) -> bool:
        """True while the worker runs."""
        return self._thread.is_alive()

    def set_relay(self, meter_id: str, closed: bool) -> None:
        """Ask for a meter's relay to switch by hand: the single entry point, refused
        unless :meth:`set_maintenance` enabled it for the meter; the outcome arrives as a
        RelaySwitched event (and is journaled)."""
        self._request(lambda supply: supply.switch_by_hand(meter_id, closed))

    def set_maintenance(self, meter_id: str, enabled: bool) -> None:
        """Enable (or end) manual relay control of a meter; the energy drawn meanwhile
        is accounted and journaled, and ending it locks a supply point again."""
        self._request(lambda supply: supply.set_maintenance(meter_id, enabled))

    def _request(self, fn: Callable[[SupplyPoints], StatusEvent | None]) -> None:
        if self._fleet is None:
            self.events.put(BenchStatus(0.0, "warning", "the meters are not running: start first"))
            return
        self._requests.put(fn)

    @property
    def clock(self) -> SimClock | None:
        """The run's simulated clock, once the worker started it."""
        return self._clock

    def _now_s(self) -> float:
        clock = self._clock
        return 0.0 if clock is None else clock.now_s()

    # -- the worker thread -----------------------------------------------------------
    def _emit(self, event: BenchEvent) -> None:
        if isinstance(event, EnergyUnaccounted | SupplyPointFinding):
            self._findings += 1
        if isinstance(event, MeterLate):
            self._late_intervals.add(event.interval_id)
        self.events.put(event)
        for recorder in self.recorders:
            recorder.record(event)

    def _progress(self, sim_time_s: float, level: str, message: str) -> None:
        self._emit(BenchStatus(sim_time_s, level, message))

    def _main(self) -> None:
        try:
            self._run()
        except BenchError as exc:
            self.error = exc
            self._fail(str(exc))
        except Exception as exc:  # a bug: report it, never die silently
            self.error = exc
            self._fail(f"internal error: {exc!r}; please report it")
            raise
        finally:
            for recorder in self.recorders:
                recorder.close()

    def _fail(self, detail: str) -> None:
        failed = WorkerStatus(self._now_s(), WorkerState.FAILED, detail)
        self.events.put(failed)
        for recorder in self.recorders:
            with contextlib.suppress(BenchError):  # a recorder that failed already said so
                recorder.record(failed)

    def _agents(self, fleet: MeterFleet, clock: SimClock) -> dict[str, Agent]:
        agents = {}
        for p in self.config.participants:
            name = p.agent.participant
            load = fleet.load_control(p.meter_id)
            agents[name] = Agent(p.agent, load.scale if load else None)
            if load is None and p.agent.role is Role.RESPONSIVE:
                self._emit(NoLoadControl(clock.now_s(), name, p.meter_id, fleet.kind(p.meter_id)))
        return agents

    def _run(self) -> None:
        cfg, resumed = self.config, self.continuation
        first = 1 if resumed is None else resumed.first_interval
        tx_log = JournalTxLog(self._record, first - 1)
        with contextlib.ExitStack() as stack:
            if resumed is None:
                self._progress(0.0, "info", "starting the chain")
                chain = stack.enter_context(ChainSession.open(cfg, self._progress, tx_log))
            else:
                if resumed.node is not None:
                    stack.callback(resumed.node.stop)
                kept = (resumed.carry_state or {}).get("counters_wh")
                chain = ChainSession.reattach(
                    cfg, resumed.market, resumed.url, resumed.node, counters_wh=kept
                )
                resumed.market.client.tx_log = tx_log
            stack.callback(setattr, chain.market.client, "tx_log", None)
            chain.journal_head = self._journal_digest
            # simulated time stood still while the bench was down: it carries on at the
            # start of the first interval still to run
            skipped_s = (first - 1) * cfg.market_interval_s
            clock = self._clock = SimClock(speed=cfg.speed, start_s=cfg.start_s + skipped_s)
            # held at the configured start while the meters come up and are commissioned,
            # so interval 1 starts at start_hour on the meters' clock as on the tariffs'
            clock.pause()
            journal_path = next((r.path for r in self.recorders if r.path is not None), None)
            run_dir = None if journal_path is None else Path(journal_path).parent
            self._progress(clock.now_s(), "info", "starting the meters")
            memory_dir = None if run_dir is None else run_dir / METER_MEMORY
            fleet = stack.enter_context(
                MeterFleet.open(cfg, clock, self._progress, memory_dir=memory_dir)
            )
            self._fleet = fleet
            stack.callback(setattr, self, "_fleet", None)
            if resumed is not None:
                self._progress(
                    clock.now_s(),
                    "info",
                    f"resuming the run at interval {first} of {cfg.intervals} on "
                    f"{chain.url}, market {chain.market.address}",
                )
                for finding in resumed.findings:
                    self._emit(finding)
            else:
                self._emit(self._run_started(chain))
            operator = chain.market.operator
            operator.before_send = self._journal_settle_intent(chain, clock)
            stack.callback(setattr, operator, "before_send", None)
            loads = {
                p.agent.participant: load
                for p in cfg.participants
                if (load := fleet.load_control(p.meter_id)) is not None
            }
            procedure = IntervalProcedure(cfg, self._agents(fleet, clock), chain, loads)
            self._procedure = procedure
            if resumed is not None:
                self._restore(procedure, resumed, clock.now_s())
            online_timeout_s = cfg.bench.online_timeout_s
            silent = fleet.wait_online(timeout_s=online_timeout_s)
            if silent:
                self._progress(
                    clock.now_s(),
                    "warning",
                    f"meters {', '.join(silent)} sent nothing in {online_timeout_s:g} s; "
                    "running without them until they answer (check their ports and cables)",
                )
            if resumed is None:
                attested_meters = chain.commission(fleet, clock.now_s())
            else:
                attested_meters = chain.resume_signers(fleet)
            for attested in attested_meters:
                self._emit(attested)
            if journal_path is not None:  # the keys now: a killed run can be resumed
                chain.market.keys.save(Path(f"{journal_path}.keys"))
            self._save_chain_state(chain, run_dir)
            if chain.node is not None and run_dir is not None:  # a dead Anvil comes back
                stack.enter_context(_pid_file(chain.node, run_dir / ANVIL_PID))
                chain.node.supervise(run_dir / ANVIL_STATE, self._notes.put)
            _resume(clock, fleet)
            begin_s = clock.now_s()
            t0_s = chain.origin_s = begin_s - skipped_s  # where interval 1 started
            fleet.latch_boundaries(t0_s, cfg.market_interval_s)
            supply = SupplyPoints(
                fleet,
                {s.meter_id for s in cfg.sessions},
                clock.now_s,
                speed=clock.speed,
                reading_interval_s=cfg.bench.reading_interval_s,
                service_interval_s=_TICK_S,
            )
            if resumed is not None:
                kept_s = (resumed.carry_state or {}).get("relay_command_s")
                if isinstance(kept_s, int | float):
                    supply.carry_command_s(float(kept_s))
            self._supply = supply
            stack.callback(setattr, self, "_supply", None)
            if resumed is None:
                opening = SupplySessions.open(cfg.sessions, chain, fleet, supply, clock.now_s())
            else:
                opening = SupplySessions.carry_on(
                    cfg.sessions,
                    chain,
                    fleet,
                    supply,
                    first,
                    resumed.counters_at_stop,
                    resumed.supply_power_w,
                    clock.now_s(),
                )
            sessions = stack.enter_context(opening)
            for taken_up in [*sessions.attested, *sessions.resumed]:
                self._emit(taken_up)
            if journal_path is not None and cfg.sessions:  # the owners' keys too
                chain.market.keys.save(Path(f"{journal_path}.keys"))
            stack.callback(self._wind_down, clock, sessions)
            fleet.interval_energy(clock.real_time_of(begin_s))  # count energy from here on
            if resumed is not None and first <= cfg.intervals:
                for event in _outage_energy(fleet, resumed, begin_s, t0_s + skipped_s):
                    self._emit(event)
            elif resumed is not None:  # killed after its last interval was journaled
                self._progress(
                    begin_s,
                    "info",
                    "every interval was journaled before the stop: the energy metered "
                    "since the run's end belongs to no interval and is not attributed",
                )
            self._emit(WorkerStatus(clock.now_s(), WorkerState.RUNNING))
            self._emit(procedure.prepare_first(begin_s, first))
            reports: list[IntervalReport] = []
            for interval_id in range(first, cfg.intervals + 1):
                tx_log.interval_id = interval_id
                end_s = t0_s + interval_id * cfg.market_interval_s
                for event in sessions.start_of_interval(interval_id, clock.now_s()):
                    self._emit(event)
                if not self._wait(clock, end_s, fleet, sessions):
                    break
                metered, feeder_wh = fleet.interval_energy(
                    clock.real_time_of(end_s), interval_id=interval_id
                )
                self._samples(fleet)  # those read to cut it count in this interval
                for energy_event in fleet.energy_events():
                    self._emit(energy_event)
                curtailed, shed = fleet.limited_wh(end_s - cfg.market_interval_s, end_s)
                signed, missing = chain.signed_readings(clock.now_s())
                for gap in missing:
                    self._emit(gap)
                report = procedure.run(
                    interval_id, end_s, metered, feeder_wh, fleet.last_feeder_wh, signed=signed
                )
                if curtailed or shed:
                    report = replace(report, curtailed_wh=curtailed, shed_wh=shed)
                reports.append(report)
                self._emit(report)
                if self._state_due(interval_id, last=interval_id == cfg.intervals):
                    self._save_chain_state(chain, run_dir, interval_id)
                behind_s = clock.now_s() - end_s
                if behind_s > cfg.market_interval_s:
                    self._progress(
                        clock.now_s(),
                        "warning",
                        f"interval {interval_id} took {behind_s:.0f} simulated s to trade, "
                        "settle and price, longer than an interval: the worker is falling "
                        "behind; lower [scenario] speed or [battery] soc_nodes",
                    )
                if procedure.signal is not None and interval_id < cfg.intervals:
                    self._emit(procedure.signal)
                for status in sessions.end_of_interval(interval_id, clock.now_s()):
                    self._emit(status)
                if not self._hold(clock, fleet, sessions):
                    break
            reason = "the bench stopped" if self._stop.is_set() else "the run ended"
            for status in [
                *sessions.wind_down(clock.now_s(), reason),
                *fleet.finish(wait_s=_FINAL_WAIT_S),
            ]:
                self._emit(status)
            self._forward(clock, fleet, sessions)
            last_recorded = reports[-1].interval_id if reports else first - 1
            if not reports and resumed is not None:
                last_recorded = resumed.last_recorded
            if last_recorded > 0:
                self._commit_journal(chain, last_recorded, clock.now_s())
                self._save_chain_state(chain, run_dir)  # the chain as the run left it
            settlements = [r.settlement for r in reports]
            journal = next((r.path for r in self.recorders if r.path is not None), None)
            if journal is not None:  # the run's keystores (mode 0600) beside its journal
                chain.market.keys.save(Path(f"{journal}.keys"))
            before = (0, 0, 0, 0, 0) if resumed is None else resumed.before
            summary = RunSummary(
                meters=len(fleet.meter_ids),
                intervals=before[0] + len(reports),
                trades_settled=before[1] + sum(len(s.settled_trades) for s in settlements),
                trades_rejected=before[2] + sum(len(s.rejected_trades) for s in settlements),
                energy_traded_wh=before[3] + sum(s.energy_settled_wh for s in settlements),
                value_settled_wei=before[4] + sum(s.value_settled_wei for s in settlements),
                chain_url=chain.url,
                market_address=chain.market.address,
                escrow_conserved=chain.escrow_conserved(sessions.balance_changes_wei()),
                audit_clean=(
                    in_run_clean(
                        (f for r in reports for f in r.audit.findings), self._late_intervals
                    )
                    and not self._findings
                ),
                journal_path=None if journal is None else str(journal),
                attestation=dict(chain.attestation),
            )
        done = WorkerState.STOPPED if self._stop.is_set() else WorkerState.FINISHED
        self._emit(WorkerStatus(clock.now_s(), done))
        self.summary = summary
        self._emit(summary)  # always the last event

    def _restore(self, procedure: IntervalProcedure, resumed: Continuation, now_s: float) -> None:
        """The interrupted run's state carried into the procedure (a warning without it)."""
        state = resumed.carry_state
        if state is not None:
            after = procedure.restore(state)
            self._progress(
                now_s, "info", f"the market's and agents' state after interval {after} restored"
            )
        elif resumed.first_interval > 1:
            self._progress(
                now_s,
                "warning",
                f"the journal holds no state after interval {resumed.first_interval - 1}: "
                "the battery's state of charge, the strategies and the flexible loads start "
                "afresh",
            )

    def _run_started(self, chain: ChainSession) -> RunStarted:
        """The run's meta: config, policy, chain and market (journaled at once)."""
        cfg = self.config
        policy = cfg.audit_policy
        text = cfg.source_text or (cfg.source.read_text() if cfg.source is not None else "")
        overrides = (("intervals", cfg.intervals), ("speed", cfg.speed), *cfg.overrides)
        return RunStarted(
            str(cfg.source),
            cfg.market.mechanism,
            policy.loss_fraction,
            policy.tolerance_fraction,
            chain.url,
            chain.market.address,
            config_text=text,
            config_overrides=overrides,
            config_sha256=config_sha256(text, dict(overrides)),
        )

    def _state_due(self, interval_id: int, *, last: bool) -> bool:
        """Whether Anvil's state is saved after ``interval_id``: after the last one, at
        least every :data:`STATE_SAVE_MAX_INTERVALS`, else once the time since the last
        save makes its duration at most :data:`STATE_SAVE_SHARE` of the time."""
        ended_s, took_s, saved_id = self._state_saved
        if last or interval_id - saved_id >= STATE_SAVE_MAX_INTERVALS:
            return True
        return took_s <= STATE_SAVE_SHARE * (time.monotonic() - ended_s + took_s)

    def _save_chain_state(
        self, chain: ChainSession, run_dir: Path | None, interval_id: int = 0
    ) -> None:
        """The bench's own Anvil's whole state, beside the journal (when due after an
        interval, :meth:`_state_due`): what a dead Anvil is restarted from, in the run or
        by ``gridbench run --resume``."""
        if chain.node is None or run_dir is None:
            return
        started_s = time.monotonic()
        partial = run_dir / f"{ANVIL_STATE}.partial"
        try:
            chain.node.dump_state(partial)
        except (OSError, ValueError) as exc:  # Anvil down this instant: the last one stays
            self._notes.put(f"Anvil's state could not be saved ({exc}): keeping the last one")
            return
        partial.replace(run_dir / ANVIL_STATE)  # atomic: never half a state file
        ended_s = time.monotonic()
        self._state_saved = (ended_s, ended_s - started_s, interval_id)

    def _journal_settle_intent(
        self, chain: ChainSession, clock: SimClock
    ) -> Callable[[dict[str, Any], str], None]:
        """The operator wallet's hook: each ``settle`` transaction, once signed, is
        journaled (and committed) as an intent before it is sent, with what the next
        interval starts from (the procedure's carry state, the counters the bench
        attested in it, sub-Wh rests included, and the slowest relay command so far)."""
        market_address = chain.market.address

        def journal(tx: dict[str, Any], tx_hash: str) -> None:
            data = bytes(tx.get("data", b""))
            if str(tx.get("to", "")).lower() != market_address.lower():
                return
            if data[:4] != SETTLE_SELECTOR:
                return
            interval_id = int.from_bytes(data[4:36], "big")
            procedure, supply = self._procedure, self._supply
            state = None if procedure is None else procedure.carry_state
            intent = SettleIntent(
                clock.now_s(),
                interval_id,
                tx_hash,
                int(tx["nonce"]),
                "0x" + data.hex(),
                ""
                if not state or state["interval_id"] != interval_id
                else json.dumps(
                    {
                        **state,
                        "counters_wh": chain.counters_wh(),
                        "relay_command_s": None if supply is None else supply.relay_command_s,
                    }
                ),
            )
            self._record(intent)

        return journal

    def _record(self, event: BenchEvent) -> None:
        """Hand ``event`` to the recorders only (a settle intent, a transaction signed):
        journaled and committed before the transaction goes out, not shown."""
        for recorder in self.recorders:
            recorder.record(event)

    def _journal_digest(self) -> str | None:
        """The journal's chained digest so far (None without a journal recorder)."""
        for recorder in self.recorders:
            digest = getattr(recorder, "journal_digest", None)
            if digest is not None:
                return digest()
        return None

    def _commit_journal(self, chain: ChainSession, last_id: int, now_s: float) -> None:
        """Commit the digest through the last interval; a failure is a warning."""
        try:
            chain.commit_journal(last_id)
        except BenchError as exc:
            self._progress(
                now_s,
                "warning",
                f"the journal's digest through interval {last_id} could not be committed on "
                f"chain ({exc}); the audit will report that interval's record as unchecked",
            )

    def _forward(self, clock: SimClock, fleet: MeterFleet, sessions: SupplySessions) -> None:
        """Live readings, link events, session events and relay outcomes, as they came."""
        now_s = clock.now_s()
        while not self._notes.empty():
            self._progress(now_s, "warning", self._notes.get_nowait())
        self._samples(fleet)
        for link in fleet.drain_links(now_s):
            if link.state is LinkState.OUTAGE:
                sessions.meter_fault(link.meter_id)
            self._emit(link)
        for event in sessions.poll(now_s):
            self._emit(event)
        supply = sessions.supply
        while not self._requests.empty():
            outcome = self._requests.get_nowait()(supply)
            if outcome is not None:
                self._emit(outcome)
        for event in [*supply.poll(), *fleet.energy_events()]:
            self._emit(event)

    def _samples(self, fleet: MeterFleet) -> None:
        """The readings that arrived (those the supply points collected while waiting
        for a relay included), as live samples at the instants they were taken (the
        journal counts each in the interval it was taken in)."""
        for reading in fleet.drain():
            self._emit(
                MeterSample(
                    reading.meter_id,
                    fleet.participant_of(reading.meter_id),
                    fleet.sim_time_of(reading),
                    reading.power_w,
                    reading.energy_import_wh,
                    reading.energy_export_wh,
                    reading.relay_closed,
                )
            )

    def _wind_down(self, clock: SimClock, sessions: SupplySessions) -> None:
        """On any way out (stop, chain or meter failure): lock the supply points and close
        their sessions; what cannot be done is reported, never raised."""
        reason = "the bench stopped" if self._stop.is_set() else "the run ended"
        try:
            events = sessions.wind_down(clock.now_s(), reason)
        except BenchError as exc:
            events = [BenchStatus(clock.now_s(), "error", f"winding down: {exc}")]
        events.extend(sessions.supply.poll())
        for event in events:
            self._emit(event)

    def _wait(
        self, clock: SimClock, end_s: float, fleet: MeterFleet, sessions: SupplySessions
    ) -> bool:
        """Forward live events until the interval ends; False if stopped."""
        while True:
            self._forward(clock, fleet, sessions)
            delay_s = clock.real_delay_s(end_s)
            if delay_s <= 0:
                return True
            if self._stop.wait(min(delay_s, _TICK_S)):
                return False

    def _hold(self, clock: SimClock, fleet: MeterFleet, sessions: SupplySessions) -> bool:
        """While paused, stop simulated time and keep forwarding; False if stopped."""
        if not self._running.is_set():
            clock.pause()
            self._emit(WorkerStatus(clock.now_s(), WorkerState.PAUSED))
            while not self._running.wait(_TICK_S):
                self._forward(clock, fleet, sessions)
            _resume(clock, fleet)
            if not self._stop.is_set():
                self._emit(WorkerStatus(clock.now_s(), WorkerState.RUNNING))
        return not self._stop.is_set()


@contextlib.contextmanager
def _pid_file(node: Anvil, path: Path) -> Any:
    """``path`` names the node's process and port while inside (removed on the way out,
    so only a killed bench leaves it behind)."""
    path.write_text(json.dumps({"pid": node.pid, "port": node.port, "bench_pid": os.getpid()}))
    try:
        yield
    finally:
        path.unlink(missing_ok=True)


def _outage_energy(
    fleet: MeterFleet, resumed: Continuation, begin_s: float, stop_s: float
) -> list[BenchEvent]:
    """The energy each meter that kept counting while the bench was down (its counters
    at the resume's first cut, ``begin_s``, less those at the last settled interval's
    end, ``stop_s``): a catch-up for the outage, not traded. A meter with no reading yet
    is a finding; one whose counters went back restarted with the bench, and had
    nothing to attribute."""
    events: list[BenchEvent] = []
    for meter_id, (import_wh, export_wh) in sorted(resumed.counters_at_stop.items()):
        if meter_id not in fleet.meter_ids or fleet.counts_from_zero(meter_id):
            continue  # its counting stood still with the bench (and simulated time)
        at_cut = fleet.counters_at_cut(meter_id)  # the first resumed interval's start
        if at_cut is None:
            events.append(
                EnergyUnaccounted(
                    begin_s,
                    meter_id,
                    "kept counting while the bench was down and has not reported since the "
                    "resume: that energy is not attributed",
                )
            )
            continue
        got_import, got_export = at_cut
        if got_import < import_wh or got_export < export_wh:
            events.append(
                BenchStatus(
                    begin_s,
                    "warning",
                    f"meter {meter_id}'s counters are below the journal's at the stop "
                    "(it restarted): no energy of the outage to attribute",
                )
            )
            continue
        events.append(
            EnergyCatchUp(
                begin_s,
                meter_id,
                fleet.participant_of(meter_id),
                None,
                resumed.first_interval - 1,
                stop_s,
                begin_s,
                got_import - import_wh,
                got_export - export_wh,
            )
        )
    return events


def _resume(clock: SimClock, fleet: MeterFleet) -> None:
    """Let simulated time run again; the meters on it held their counters until now."""
    held_s = clock.now_s()
    clock.resume()
    fleet.clock_held_until(clock.real_time_of(held_s))


def in_run_clean(findings: Iterable[Finding], late_intervals: Set[int]) -> bool:
    """The in-run audit's verdict: no finding, except the energy balance of an interval
    at whose boundary a meter was late. That meter was cut at its last reading, before
    the boundary, so its energy up to the boundary comes later as a catch-up and the
    balance is only provisional; the verdict (the journal replayed) balances it with its
    catch-ups, and a meter that never caught up is an :class:`EnergyUnaccounted` finding
    of its own."""
    return not any(
        f.kind != "energy_imbalance" or f.interval_id not in late_intervals for f in findings
    )
