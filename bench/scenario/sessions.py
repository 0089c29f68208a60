"""Supply sessions: a consumer connects to a supply point, the chain says so, the bench
unlocks the meter's relay.

A planned session (``[[sessions]]`` in the bench config) is opened on chain from the
consumer's wallet at the start of its interval; only the market's ``SessionOpened``
event in that transaction's receipt makes the bench send the meter's authenticated
unlock (never a slower event poll, which could arrive after the session closed).
When the session is closed with the meter's signed counter and the ``SessionClosed``
bill arrives, it locks the supply point again.

A supply point whose meter signs is registered meter-signed and its session opens and
closes with the meter's own signed reading, asked for at that moment; one that cannot
sign is registered attested by the bench, which signs its last counters.
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable, Iterator

from bench.attestation import SignedCounters
from bench.chain import SessionBill
from bench.chain.sessions import SessionRecord
from bench.chain.watcher import EventWatcher, SessionOpened
from bench.config import SessionPlan
from bench.devices.reading import Reading
from bench.errors import BenchError, ChainError, DeviceError
from bench.events import (
    BenchStatus,
    MeterAttested,
    SessionState,
    SessionStatus,
    StatusEvent,
    SupplyFault,
    SupplyPointFinding,
)
from bench.scenario.fleet import MeterFleet
from bench.scenario.settlement import ChainSession
from bench.scenario.signing import MeterSigners
from bench.scenario.supply_points import SupplyPoints, cap_energy_wh

StatusSink = Callable[[float, str, str], None]
_RELAY_TIMEOUT_S = 10.0


class SupplySessions:
    """Runs the planned sessions and keeps each supply point's relay in step with the chain."""

    def __init__(
        self,
        plans: tuple[SessionPlan, ...],
        chain: ChainSession,
        fleet: MeterFleet,
        supply: SupplyPoints,
    ) -> None:
        self.plans = plans
        self.chain = chain
        self.fleet = fleet
        self.supply = supply
        self.bills: list[SessionBill] = []
        self._ids: dict[SessionPlan, int] = {}
        self._opened: dict[SessionPlan, int] = {}
        self._start_counter_wh: dict[int, float] = {}
        self._faulted: set[str] = set()
        self._watcher: EventWatcher | None = None
        self._time_s = 0
        self._signers: MeterSigners | None = None
        self.attested: list[MeterAttested] = []
        """How each supply point's meter was registered (for the run's events)."""
        self.resumed: list[StatusEvent] = []
        """What :meth:`carry_on` did with the killed run's sessions (for the run's events)."""
        self._offset_wh: dict[str, tuple[float, float]] = {}
        self._carried: dict[int, int] = {}  # session id -> cap escrowed before the resume
        self._billed_before: set[int] = set()  # sessions closed before the resume
        self._started: set[SessionPlan] = set()  # opened before the resume
        self._unbillable: set[str] = set()  # meter-signed, restarted from 0: cannot bill

    @classmethod
    @contextlib.contextmanager
    def open(
        cls,
        plans: tuple[SessionPlan, ...],
        chain: ChainSession,
        fleet: MeterFleet,
        supply: SupplyPoints,
        sim_time_s: float = 0.0,
    ) -> Iterator[SupplySessions]:
        """Register the supply points (meter-signed where their meters sign), lock their
        relays and watch the market's events."""
        sessions = cls(plans, chain, fleet, supply)
        if not plans:
            yield sessions
            return
        market = chain.market
        owners = {p.owner: p.meter_id for p in plans if p.owner not in chain.participants}
        if owners:  # (with a grid the owners are market participants already)
            market.add_participants(list(owners), 0, register_meters=False)
            sessions.attested, sessions._signers = chain.register_meters(owners, fleet, sim_time_s)
        for plan in plans:
            market.sessions.set_tariff(plan.owner, plan.meter_id, plan.tariff_wei_per_wh)
        for meter_id in sorted(set(owners.values())):
            supply.lock_and_confirm(meter_id, "supply point starts locked", _RELAY_TIMEOUT_S)
        with sessions._watching():
            yield sessions

    @classmethod
    @contextlib.contextmanager
    def carry_on(
        cls,
        plans: tuple[SessionPlan, ...],
        chain: ChainSession,
        fleet: MeterFleet,
        supply: SupplyPoints,
        first_interval: int,
        counters_at_stop: dict[str, tuple[float, float]],
        power_w: dict[str, float],
        sim_time_s: float,
    ) -> Iterator[SupplySessions]:
        """The sessions of a killed run resumed at ``first_interval``: its supply points
        as registered on chain (never registered again), each session the chain holds
        open reattached (see the module's docstring); ``counters_at_stop``: each meter's
        journaled counters at the last settled interval's end; ``power_w``: the most each
        supply point drew before the stop (a session within its lead of the cap is closed)."""
        sessions = cls(plans, chain, fleet, supply)
        if not plans:
            yield sessions
            return
        sessions._follow(fleet, counters_at_stop, sim_time_s)
        with sessions._watching():  # the bills of sessions closed at the resume too
            sessions.resumed = sessions._reattach(first_interval, power_w, sim_time_s)
            yield sessions

    @contextlib.contextmanager
    def _watching(self) -> Iterator[None]:
        self._watcher = EventWatcher(self.chain.market, poll_s=0.05).start()
        try:
            yield
        finally:
            self._watcher.stop()

    def _follow(
        self, fleet: MeterFleet, counters_at_stop: dict[str, tuple[float, float]], now_s: float
    ) -> None:
        """Take up each supply point as the chain registered it: its owner's balance
        as it is now (the escrow check's start), its attestation, and for a bench-attested
        meter the chain's reading sequence and time, offset by its counters at the stop
        when it restarted from 0."""
        market = self.chain.market
        registry = market.registry
        signed = []
        for meter_id, owner in sorted({p.meter_id: p.owner for p in self.plans}.items()):
            kind = registry.attestation(meter_id)
            if kind == "unregistered":
                raise ChainError(
                    f"supply point {meter_id} is not registered on the run's market (the "
                    "run was killed before its sessions started): start a new run"
                )
            self.chain.note_starting_balance(owner)
            how = "meter" if kind == "meter-signed" else "bench"
            signer = registry.signer(meter_id)
            self.chain.attestation[meter_id] = {"attestation": how, "signer": signer}
            self.attested.append(MeterAttested(now_s, meter_id, how, signer))
            if how == "meter":
                signed.append(meter_id)
                if fleet.counts_from_zero(meter_id):
                    self._unbillable.add(meter_id)
                continue
            if self.chain.bench_counters(meter_id) is not None:
                continue  # a participant's meter: the chain session follows it
            last = registry.last_counters(meter_id)
            registry.attestor.follow(meter_id, last.seq)
            self._time_s = max(self._time_s, last.time_s)
            if fleet.counts_from_zero(meter_id):
                at_stop = counters_at_stop.get(meter_id, (0.0, 0.0))
                self._offset_wh[meter_id] = (
                    max(float(last.import_wh), at_stop[0]),
                    max(float(last.export_wh), at_stop[1]),
                )
        if signed:
            self._signers = MeterSigners(fleet, signed)
            self._signers.signers = {m: registry.signer(m) for m in signed}

    def _reattach(
        self, first_interval: int, power_w: dict[str, float], now_s: float
    ) -> list[StatusEvent]:
        """Match the sessions opened on chain to the plans due by ``first_interval`` (in
        order, per supply point), so none is opened again; reattach those still open."""
        out: list[StatusEvent] = []
        opened = self.chain.market.sessions.opened()
        for meter_id in sorted({p.meter_id for p in self.plans}):
            due = sorted(
                (
                    p
                    for p in self.plans
                    if p.meter_id == meter_id and p.open_interval <= first_interval
                ),
                key=lambda p: p.open_interval,
            )
            events = [e for e in opened if e.meter == meter_id]
            for plan, event in zip(due, events, strict=False):
                self._started.add(plan)
                self._opened[plan] = event.session_id
                record = self.chain.market.sessions.record(event.session_id)
                if not record.open:  # billed by the killed run: in the balances at the resume
                    self._billed_before.add(event.session_id)
                else:
                    self._carried[event.session_id] = record.deposit_wei
                    lead_wh = self.supply.lead_wh(power_w.get(meter_id, 0.0))
                    out.extend(self._resume_session(plan, record, first_interval, lead_wh, now_s))
        return out

    def _resume_session(
        self,
        plan: SessionPlan,
        record: SessionRecord,
        first_interval: int,
        lead_wh: float,
        now_s: float,
    ) -> list[StatusEvent]:
        """Lock the supply point and re-read its counter; then carry the session on
        (its relay closed again) or close and bill it (due, or within ``lead_wh`` of its
        cap, where the live run locks it)."""
        meter_id, session_id = plan.meter_id, record.session_id
        if meter_id in self._unbillable:
            self.supply.lock(meter_id, f"session {session_id} cannot be billed after the resume")
            return [
                SupplyPointFinding(
                    now_s,
                    meter_id,
                    SupplyFault.SESSION,
                    f"session {session_id} stays open on chain with its cap escrowed and "
                    "the supply point locked: its meter signs its own counters and restarted "
                    "from 0, so no reading of it can close the session; close it when it "
                    "expires (closeExpiredSession)",
                )
            ]
        final = self.supply.lock_and_confirm(
            meter_id, f"session {session_id} reattached: locked until its counter is re-read",
            _RELAY_TIMEOUT_S,
        )  # fmt: skip
        self._ids[plan] = session_id
        if final is None:
            return [
                SupplyPointFinding(
                    now_s,
                    meter_id,
                    SupplyFault.RELAY,
                    f"not confirmed locked at the resume: session {session_id} stays locked "
                    "and is closed at its end with the meter's last reading",
                )
            ]
        offset_wh = self._offset_wh.get(meter_id, (0.0, 0.0))[0]
        used_wh = final.energy_import_wh + offset_wh - record.start_import_wh
        cap_wh = cap_energy_wh(record.deposit_wei, record.price_wei_per_wh)
        if plan.close_interval < first_interval or used_wh + lead_wh >= cap_wh:
            del self._ids[plan]
            why = "it was due" if plan.close_interval < first_interval else "it reached its cap"
            return self._close(plan, session_id, now_s, f"closed at the resume: {why}")
        self._start_counter_wh[session_id] = record.start_import_wh - offset_wh
        self.supply.unlock(meter_id, session_id, self._start_counter_wh[session_id], cap_wh)
        return [
            SessionStatus(
                now_s,
                meter_id,
                SessionState.OPENED,
                plan.consumer,
                session_id,
                f"reattached at the resume: {used_wh:.0f} of its cap of {cap_wh:.0f} Wh used",
            )
        ]

    def balance_changes_wei(self) -> dict[str, int]:
        """How the sessions moved prepaid balances: open caps held, bills paid to owners."""
        changes: dict[str, int] = {}
        billed = {bill.session_id: bill for bill in self.bills}
        for plan, session_id in self._opened.items():
            if session_id in self._billed_before:
                continue
            bill = billed.get(session_id)
            held_wei = self._carried.get(session_id)
            if held_wei is not None:  # escrowed before the resume: only its bill moves
                if bill is not None:
                    changes[plan.consumer] = (
                        changes.get(plan.consumer, 0) + held_wei - bill.billed_wei
                    )
                    changes[plan.owner] = changes.get(plan.owner, 0) + bill.billed_wei
            elif bill is None:
                changes[plan.consumer] = changes.get(plan.consumer, 0) - plan.cap_wei
            else:
                changes[plan.consumer] = changes.get(plan.consumer, 0) - bill.billed_wei
                changes[plan.owner] = changes.get(plan.owner, 0) + bill.billed_wei
        for plan in self.plans:
            changes.setdefault(plan.owner, 0)
        return changes

    def _attested(
        self, meter_id: str, reading: Reading | None, sim_time_s: float
    ) -> SignedCounters:
        """The supply point's counters now: signed by the meter itself where it is
        registered meter-signed (by the sessions, or with a grid as a participant's meter),
        else attested by the bench at ``sim_time_s`` (whole simulated seconds of the run,
        never decreasing): with a grid the counters the settlements attested for its
        owner (sessions open and close at interval boundaries), else the meter's own."""
        signers = self._signers
        if signers is not None and meter_id in signers.signers:
            return signers.reading(meter_id)
        own = self.chain.meter_signed_reading(meter_id)
        if own is not None:
            return own
        if reading is None:
            raise DeviceError(
                f"supply point {meter_id} has sent no reading, so its session cannot be "
                "billed; check its port"
            )
        settled = self.chain.bench_counters(meter_id)
        if settled is not None:  # a participant's meter: what the settlements attested
            return self.chain.market.registry.attestor.sign(meter_id, *settled)
        self._time_s = max(self._time_s, self.chain.bench_time_s(sim_time_s))
        import_offset_wh, export_offset_wh = self._offset_wh.get(meter_id, (0.0, 0.0))
        return self.chain.market.registry.attestor.sign(
            meter_id,
            math.floor(reading.energy_import_wh + import_offset_wh),
            math.floor(reading.energy_export_wh + export_offset_wh),
            self._time_s,
        )

    def start_of_interval(self, interval_id: int, sim_time_s: float) -> list[StatusEvent]:
        """Open the sessions planned for this interval (the consumer's transaction)."""
        out: list[StatusEvent] = []
        for plan in self.plans:
            if plan.open_interval == interval_id and plan not in self._started:
                if plan.meter_id in self._unbillable:
                    out.append(self._not_opened(plan, sim_time_s))
                    continue
                opening = self.fleet.latest(plan.meter_id)
                opened = self.chain.market.sessions.open_event(
                    plan.consumer,
                    plan.meter_id,
                    plan.cap_wei,
                    max_price_wei_per_wh=plan.max_price_wei_per_wh,
                    reading=self._attested(plan.meter_id, opening, sim_time_s),
                )
                session_id = opened.session_id
                self._ids[plan] = self._opened[plan] = session_id
                if opening is not None:  # (_attested refused None)
                    self._start_counter_wh[session_id] = math.floor(opening.energy_import_wh)
                out.append(
                    SessionStatus(
                        sim_time_s, plan.meter_id, SessionState.REQUESTED, plan.consumer, session_id
                    )
                )
                out.append(self._unlock(opened, sim_time_s))
        return out

    @staticmethod
    def _not_opened(plan: SessionPlan, sim_time_s: float) -> SupplyPointFinding:
        return SupplyPointFinding(
            sim_time_s,
            plan.meter_id,
            SupplyFault.SESSION,
            f"the session of {plan.consumer} is not opened: the supply point's meter signs "
            "its own counters and restarted from 0 at the resume, below the chain's",
        )

    def _unlock(self, event: SessionOpened, sim_time_s: float) -> SessionStatus:
        """The chain's SessionOpened (from the open transaction's receipt): unlock."""
        self.supply.unlock(
            event.meter,
            event.session_id,
            self._start_counter_wh[event.session_id],
            cap_energy_wh(event.cap_wei, event.price_wei_per_wh),
        )
        return SessionStatus(
            sim_time_s,
            event.meter,
            SessionState.OPENED,
            event.consumer,
            event.session_id,
            f"cap {event.cap_wei / 1e6:.2f} LABC",
        )

    def meter_fault(self, meter_id: str) -> None:
        """A supply point's meter faulted: lock it now, close its session this interval."""
        if self.supply.session_of(meter_id) is not None:
            self._faulted.add(meter_id)
            self.supply.lock(meter_id, "its meter faulted during the session")

    def end_of_interval(self, interval_id: int, sim_time_s: float) -> list[StatusEvent]:
        """Close the sessions planned to end here (or whose meter faulted): lock the supply
        point first, then bill the meter's final signed counter, so no energy flows
        unbilled."""
        out: list[StatusEvent] = []
        for plan in self.plans:
            session_id = self._ids.pop(plan, None)
            due = plan.close_interval == interval_id or plan.meter_id in self._faulted
            if due and session_id is not None:
                out.extend(self._close(plan, session_id, sim_time_s, "its session ended"))
            elif session_id is not None:
                self._ids[plan] = session_id
        self._faulted.clear()
        return out

    def wind_down(self, sim_time_s: float, reason: str) -> list[StatusEvent]:
        """Lock every supply point and close every session still open (stop, failure);
        what cannot be closed is a finding, never an exception."""
        out: list[StatusEvent] = []
        for plan, session_id in list(self._ids.items()):
            del self._ids[plan]
            try:
                out.extend(self._close(plan, session_id, sim_time_s, reason))
            except BenchError as exc:
                out.append(
                    SupplyPointFinding(
                        sim_time_s,
                        plan.meter_id,
                        SupplyFault.SESSION,
                        f"session {session_id} could not be closed ({exc}); it stays open on "
                        "chain with its cap escrowed: close it with the meter's counter",
                    )
                )
        self.supply.lock_all(reason, timeout_s=_RELAY_TIMEOUT_S)
        return out

    def _close(
        self, plan: SessionPlan, session_id: int, sim_time_s: float, reason: str
    ) -> list[StatusEvent]:
        out: list[StatusEvent] = []
        final = self.supply.lock_and_confirm(plan.meter_id, reason, _RELAY_TIMEOUT_S)
        if final is None:
            final = self.fleet.latest(plan.meter_id)
            if final is None:
                raise DeviceError(
                    f"supply point {plan.meter_id} sent no reading, so session {session_id} "
                    "cannot be billed yet; check its port"
                )
            out.append(
                SupplyPointFinding(
                    sim_time_s,
                    plan.meter_id,
                    SupplyFault.RELAY,
                    f"not confirmed locked before closing session {session_id}: billed with "
                    "its last reading; energy drawn after it is unbilled",
                )
            )
        bill = self.chain.market.sessions.close(
            session_id, self._attested(plan.meter_id, final, sim_time_s)
        )
        self.bills.append(bill)
        out.append(
            SessionStatus(sim_time_s, plan.meter_id, SessionState.CLOSED, plan.consumer, session_id)
        )
        return out

    def poll(self, sim_time_s: float) -> list[StatusEvent]:
        """Act on the chain's session events: lock on the bill; report sessions not planned."""
        out: list[StatusEvent] = []
        watcher = self._watcher
        if watcher is None:
            return out
        while not watcher.events.empty():
            event = watcher.events.get_nowait()
            if isinstance(event, SessionOpened):
                if event.session_id not in self._opened.values():
                    out.append(
                        BenchStatus(
                            sim_time_s,
                            "warning",
                            f"session {event.session_id} on {event.meter} was opened outside "
                            "the bench's plan; its relay stays locked",
                        )
                    )
            elif isinstance(event, SessionBill):
                self.supply.lock(event.meter, f"session {event.session_id} billed")
                out.append(
                    SessionStatus(
                        sim_time_s,
                        event.meter,
                        SessionState.BILLED,
                        event.consumer,
                        event.session_id,
                        f"{event.energy_wh} Wh, {event.billed_wei / 1e6:.6f} LABC "
                        f"(refund {event.refund_wei / 1e6:.6f})",
                    )
                )
            elif isinstance(event, ChainError):
                out.append(BenchStatus(sim_time_s, "warning", str(event)))
        return out
