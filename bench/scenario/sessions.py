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
        self._start_counter_wh: dict[int, int] = {}
        self._faulted: set[str] = set()
        self._watcher: EventWatcher | None = None
        self._time_s = 0
        self._signers: MeterSigners | None = None
        self.attested: list[MeterAttested] = []
        """How each supply point's meter was registered (for the run's events)."""

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
        sessions._watcher = EventWatcher(market, poll_s=0.05).start()
        try:
            yield sessions
        finally:
            sessions._watcher.stop()

    def balance_changes_wei(self) -> dict[str, int]:
        """How the sessions moved prepaid balances: open caps held, bills paid to owners."""
        changes: dict[str, int] = {}
        billed = {bill.session_id: bill for bill in self.bills}
        for plan, session_id in self._opened.items():
            bill = billed.get(session_id)
            if bill is None:
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
        return self.chain.market.registry.attestor.sign(
            meter_id,
            math.floor(reading.energy_import_wh),
            math.floor(reading.energy_export_wh),
            self._time_s,
        )

    def start_of_interval(self, interval_id: int, sim_time_s: float) -> list[SessionStatus]:
        """Open the sessions planned for this interval (the consumer's transaction)."""
        out = []
        for plan in self.plans:
            if plan.open_interval == interval_id:
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
