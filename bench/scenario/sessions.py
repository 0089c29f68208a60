"""Supply sessions: a consumer connects to a supply point, the chain says so, the bench
unlocks the meter's relay.

A planned session (``[[sessions]]`` in the bench config) is opened on chain from the
consumer's wallet at the start of its interval; the bench does not touch the relay
then. Only when the market's ``SessionOpened`` event arrives does it send the meter's
authenticated unlock; when the session is closed with the meter's signed counter and
the ``SessionClosed`` bill arrives, it locks the supply point again.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator

from bench.attestation import SignedCounters
from bench.chain import SessionBill
from bench.chain.watcher import EventWatcher, SessionOpened
from bench.config import SessionPlan
from bench.devices.reading import Reading
from bench.errors import ChainError, DeviceError
from bench.events import BenchStatus, SessionState, SessionStatus, StatusEvent
from bench.scenario.fleet import MeterFleet
from bench.scenario.settlement import ChainSession

StatusSink = Callable[[float, str, str], None]
_RELAY_TIMEOUT_S = 10.0


class SupplySessions:
    """Runs the planned sessions and keeps each supply point's relay in step with the chain."""

    def __init__(
        self, plans: tuple[SessionPlan, ...], chain: ChainSession, fleet: MeterFleet
    ) -> None:
        self.plans = plans
        self.chain = chain
        self.fleet = fleet
        self.bills: list[SessionBill] = []
        self._ids: dict[SessionPlan, int] = {}
        self._opened: dict[SessionPlan, int] = {}
        self._watcher: EventWatcher | None = None
        self._time_s = 0

    @classmethod
    @contextlib.contextmanager
    def open(
        cls, plans: tuple[SessionPlan, ...], chain: ChainSession, fleet: MeterFleet
    ) -> Iterator[SupplySessions]:
        """Register the supply points, lock their relays and watch the market's events."""
        sessions = cls(plans, chain, fleet)
        if not plans:
            yield sessions
            return
        market = chain.market
        owners = {p.owner: p.meter_id for p in plans}
        market.add_participants(list(owners), 0, meters=owners)
        for plan in plans:
            market.sessions.set_tariff(plan.owner, plan.meter_id, plan.tariff_wei_per_wh)
        for meter_id in set(owners.values()):
            fleet.set_relay(meter_id, False).result(_RELAY_TIMEOUT_S)
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

    def _attested(self, meter_id: str, reading: Reading | None) -> SignedCounters:
        """The supply point's counters now, attested by the bench (meter time: the
        reading's bench time in whole seconds, never decreasing)."""
        if reading is None:
            raise DeviceError(
                f"supply point {meter_id} has sent no reading, so its session cannot be "
                "billed; check its port"
            )
        self._time_s = max(self._time_s, math.ceil(reading.t_s))
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
                session_id = self.chain.market.sessions.open(
                    plan.consumer,
                    plan.meter_id,
                    plan.cap_wei,
                    max_price_wei_per_wh=plan.max_price_wei_per_wh,
                    reading=self._attested(plan.meter_id, self.fleet.latest(plan.meter_id)),
                )
                self._ids[plan] = self._opened[plan] = session_id
                out.append(
                    SessionStatus(
                        sim_time_s, plan.meter_id, SessionState.REQUESTED, plan.consumer, session_id
                    )
                )
        return out

    def end_of_interval(self, interval_id: int, sim_time_s: float) -> list[SessionStatus]:
        """Close the sessions planned to end here: lock the supply point first, then bill
        the meter's final signed counter, so no energy flows unbilled."""
        out = []
        for plan in self.plans:
            session_id = self._ids.pop(plan, None)
            if plan.close_interval == interval_id and session_id is not None:
                self.fleet.set_relay(plan.meter_id, False).result(_RELAY_TIMEOUT_S)
                final = self.fleet.reading_after(plan.meter_id, time.monotonic())
                if final is None:
                    raise DeviceError(
                        f"supply point {plan.meter_id} sent no reading after it was locked, "
                        f"so session {session_id} cannot be billed yet; check its port"
                    )
                bill = self.chain.market.sessions.close(
                    session_id, self._attested(plan.meter_id, final)
                )
                self.bills.append(bill)
                out.append(
                    SessionStatus(
                        sim_time_s, plan.meter_id, SessionState.CLOSED, plan.consumer, session_id
                    )
                )
            elif session_id is not None:
                self._ids[plan] = session_id
        return out

    def poll(self, sim_time_s: float) -> list[StatusEvent]:
        """Act on the chain's session events: unlock on SessionOpened, lock on the bill."""
        out: list[StatusEvent] = []
        watcher = self._watcher
        if watcher is None:
            return out
        while not watcher.events.empty():
            event = watcher.events.get_nowait()
            if isinstance(event, SessionOpened):
                self.fleet.set_relay(event.meter, True)
                out.append(
                    SessionStatus(
                        sim_time_s,
                        event.meter,
                        SessionState.OPENED,
                        event.consumer,
                        event.session_id,
                        f"cap {event.cap_wei / 1e6:.2f} LABC",
                    )
                )
            elif isinstance(event, SessionBill):
                self.fleet.set_relay(event.meter, False)
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
