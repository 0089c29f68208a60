"""Supply points fail closed: a relay is closed only while a session (or maintenance
mode) authorises it, and every relay command is retried until the meter's own READING
flags confirm it.

Each supply point has a wanted relay state. :meth:`SupplyPoints.poll` (on the worker's
thread, every tick) sends the command while the latest reading disagrees, waits for a
reading taken after the command completed, and retries; after ``retries`` attempts it
reports a :class:`SupplyPointFinding` and keeps trying, never raising. It also locks a
session's supply point before its cap is reached (one reading period ahead at the
metered power) and accounts energy that flowed without authorisation or past the cap.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass, field

from bench.devices import Reading
from bench.errors import BenchError
from bench.events import (
    MaintenanceMode,
    RelayConfirmed,
    RelaySwitched,
    StatusEvent,
    SupplyFault,
    SupplyPointFinding,
)
from bench.scenario.fleet import MeterFleet

_CONFIRM_TIMEOUT_S = 2.0
_RETRIES = 3


@dataclass
class _Session:
    session_id: int
    start_counter_wh: float
    cap_wh: float | None


@dataclass
class _Point:
    meter_id: str
    wanted_closed: bool = False
    reason: str = "supply point starts locked"
    session: _Session | None = None
    maintenance: bool = False
    future: Future[None] | None = None
    done_t_s: float | None = None
    attempts: int = 0
    confirmed: bool = False
    reported: bool = False
    by_hand: bool = False
    last: Reading | None = None
    unauthorised_wh: float = 0.0
    maintenance_wh: float = 0.0
    beyond_cap_wh: float = 0.0
    findings: list[StatusEvent] = field(default_factory=list)


class SupplyPoints:
    """The relays of a run's supply points, kept in step with what authorises them."""

    def __init__(
        self,
        fleet: MeterFleet,
        meter_ids: set[str] | frozenset[str],
        now_s: Callable[[], float],
        *,
        speed: float = 1.0,
        reading_interval_s: float = 0.1,
        service_interval_s: float = 0.0,
        confirm_timeout_s: float = _CONFIRM_TIMEOUT_S,
        retries: int = _RETRIES,
    ) -> None:
        self.fleet = fleet
        self._now_s = now_s
        self._points = {m: _Point(m) for m in sorted(meter_ids)}
        self._speed = speed
        # what passes between the reading that shows a cap near and the relay opening:
        # a reading period, the caller's period of :meth:`poll` and the relay command
        self._reaction_s = reading_interval_s + service_interval_s
        self._command_s = 0.0  # the slowest relay command timed so far
        self._confirm_timeout_s = confirm_timeout_s
        self._retries = retries
        self._manual: dict[str, _Point] = {}

    # -- what authorises a relay -----------------------------------------------------
    def unlock(
        self, meter_id: str, session_id: int, start_counter_wh: float, cap_wh: float | None
    ) -> None:
        """A session opened on chain: close the relay until it ends or reaches ``cap_wh``."""
        point = self._points[meter_id]
        point.session = _Session(session_id, start_counter_wh, cap_wh)
        self._want(point, True, f"session {session_id} opened on chain")

    def lock(self, meter_id: str, reason: str) -> None:
        """Open the relay (the session ended, failed or its meter faulted)."""
        point = self._points[meter_id]
        point.session = None
        self._want(point, False, reason)

    def lock_all(self, reason: str, timeout_s: float = 0.0) -> None:
        """Lock every supply point (stop, chain failure), waiting up to ``timeout_s``
        for the meters to confirm it (what stays unconfirmed is reported by :meth:`poll`)."""
        for meter_id in self._points:
            self.lock(meter_id, reason)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not all(p.confirmed for p in self._points.values()):
            latest = self.fleet.collect()  # kept for the worker's drain: all journaled
            for point in self._points.values():
                self._account(point, latest.get(point.meter_id))
                self._drive(point)
            time.sleep(0.005)

    @property
    def relay_command_s(self) -> float:
        """The slowest relay command acknowledged so far (seconds, host clock)."""
        return self._command_s

    def carry_command_s(self, seconds: float) -> None:
        """Take up a killed run's :attr:`relay_command_s`, so the resume locks a session
        at the lead the killed run locked it at (never reopening one it locked at its cap)."""
        self._command_s = max(self._command_s, seconds)

    def lead_wh(self, power_w: float) -> float:
        """The energy ahead of a cap at which a supply point drawing ``power_w`` is locked:
        what it draws, in simulated time, over half again the bench's reaction (a reading
        period, a service period and the slowest relay command seen in this run, so a
        loaded machine locks earlier rather than past the cap)."""
        window_s = 1.5 * (self._reaction_s + self._command_s)
        return max(0.0, power_w) * self._speed * window_s / 3600.0

    def session_of(self, meter_id: str) -> int | None:
        """The session that holds the supply point open, if any."""
        point = self._points.get(meter_id)
        return None if point is None or point.session is None else point.session.session_id

    # -- maintenance ---------------------------------------------------------------------
    def set_maintenance(self, meter_id: str, enabled: bool) -> StatusEvent:
        """Allow (or end) manual relay control of a meter; ending it locks a supply point."""
        point = self._points.get(meter_id) or self._manual.setdefault(meter_id, _Point(meter_id))
        point.maintenance = enabled
        energy_wh = point.maintenance_wh
        if not enabled:
            point.maintenance_wh = 0.0
            if meter_id in self._points and point.session is None:
                self._want(point, False, "maintenance mode ended")
        return MaintenanceMode(self._now_s(), meter_id, enabled, energy_wh)

    def switch_by_hand(self, meter_id: str, closed: bool) -> StatusEvent | None:
        """A relay switch from the panel: only in maintenance mode; None when accepted
        (the outcome arrives as :class:`RelayConfirmed` or a finding)."""
        point = self._points.get(meter_id) or self._manual.get(meter_id)
        if point is None or not point.maintenance:
            return RelaySwitched(
                self._now_s(),
                meter_id,
                closed,
                "manual relay control needs maintenance mode: enable it for this meter first",
            )
        if meter_id not in self._points:
            self._manual[meter_id] = point
        self._want(point, closed, "switched by hand in maintenance mode")
        point.by_hand = True
        return None

    # -- the worker's tick ----------------------------------------------------------------
    def poll(self) -> list[StatusEvent]:
        """Send, confirm and retry relay commands; lock at caps; account energy."""
        out: list[StatusEvent] = []
        for point in [*self._points.values(), *self._manual.values()]:
            self._account(point, self.fleet.latest(point.meter_id))
            self._drive(point)
            out.extend(point.findings)
            point.findings.clear()
        return out

    def lock_and_confirm(self, meter_id: str, reason: str, timeout_s: float) -> Reading | None:
        """Lock a supply point and wait (at most ``timeout_s``) for a reading that shows
        it locked; that reading's counter is final. None if not confirmed in time."""
        point = self._points[meter_id]
        session = point.session
        self.lock(meter_id, reason)
        # Billed up to the confirming reading: until then the energy is the session's.
        point.session = session
        deadline = time.monotonic() + timeout_s
        try:
            while time.monotonic() < deadline:
                latest = self.fleet.collect()  # kept for the worker's drain: all journaled
                self._account(point, latest.get(meter_id))
                self._drive(point)
                if point.confirmed:
                    return point.last
                time.sleep(0.005)
            return None
        finally:
            point.session = None

    def wanted_closed(self, meter_id: str) -> bool:
        """The relay state the bench wants now."""
        return self._points[meter_id].wanted_closed

    def _want(self, point: _Point, closed: bool, reason: str) -> None:
        if point.wanted_closed == closed and (point.confirmed or point.attempts):
            return  # already there, or on its way
        point.attempts, point.reported = 0, False
        point.wanted_closed, point.reason, point.by_hand = closed, reason, False
        point.confirmed = False
        point.future, point.done_t_s = None, None
        self._drive(point)

    def _drive(self, point: _Point) -> None:
        if point.confirmed:
            return
        latest = point.last
        if (
            latest is not None
            and point.done_t_s is not None
            and latest.t_s > point.done_t_s
            and latest.relay_closed == point.wanted_closed
        ):
            point.confirmed = True
            now_s = self._now_s()
            point.findings.append(
                RelayConfirmed(
                    now_s, point.meter_id, point.wanted_closed, point.attempts, point.reason
                )
            )
            if point.by_hand:
                point.findings.append(RelaySwitched(now_s, point.meter_id, point.wanted_closed))
            return
        fut = point.future
        if fut is not None and not fut.done():
            return
        if (
            fut is not None
            and fut.exception() is None
            and point.done_t_s is not None
            and time.monotonic() - point.done_t_s < self._confirm_timeout_s
        ):
            return  # sent: wait for a reading that shows it
        if point.attempts >= self._retries and not point.reported:
            point.reported = True
            error = None if fut is None else fut.exception()
            if point.by_hand:
                point.findings.append(
                    RelaySwitched(self._now_s(), point.meter_id, point.wanted_closed, str(error))
                )
            point.findings.append(
                SupplyPointFinding(
                    self._now_s(),
                    point.meter_id,
                    SupplyFault.RELAY,
                    f"relay not confirmed {'closed' if point.wanted_closed else 'open'} after "
                    f"{point.attempts} attempts ({error or 'no reading showed it'}); retrying — "
                    "check the meter's link and relay",
                )
            )
        self._send(point)

    def _send(self, point: _Point) -> None:
        point.attempts += 1
        point.done_t_s = None
        sent_t_s = time.monotonic()
        try:
            fut = self.fleet.set_relay(point.meter_id, point.wanted_closed)
        except BenchError as exc:
            fut = Future()
            fut.set_exception(exc)

        def done(f: Future[None], point: _Point = point) -> None:
            if point.future is f:
                point.done_t_s = time.monotonic()
                if f.exception() is None:
                    self._command_s = max(self._command_s, point.done_t_s - sent_t_s)

        point.future = fut
        fut.add_done_callback(done)

    def _account(self, point: _Point, reading: Reading | None) -> None:
        """Energy since the previous reading (``reading``, the meter's latest):
        unauthorised, maintenance or past the cap; and the lock ahead of the cap."""
        prev, point.last = point.last, reading
        if reading is None or prev is None or reading is prev or reading.t_s <= prev.t_s:
            return
        delta_wh = max(0.0, reading.energy_import_wh - prev.energy_import_wh)
        session = point.session
        if point.maintenance:
            point.maintenance_wh += delta_wh
        elif (
            session is None
            and prev.relay_closed
            and delta_wh > 0
            and point.meter_id in self._points
        ):
            point.unauthorised_wh += delta_wh
            point.findings.append(
                SupplyPointFinding(
                    self._now_s(),
                    point.meter_id,
                    SupplyFault.UNAUTHORISED,
                    f"{delta_wh:.1f} Wh drawn with no session open (relay "
                    f"{'closed' if reading.relay_closed else 'now open'}); it is unbilled",
                    delta_wh,
                )
            )
        if session is None or session.cap_wh is None:
            return
        used_wh = reading.energy_import_wh - session.start_counter_wh
        over_wh = used_wh - session.cap_wh
        if over_wh > point.beyond_cap_wh:
            point.findings.append(
                SupplyPointFinding(
                    self._now_s(),
                    point.meter_id,
                    SupplyFault.BEYOND_CAP,
                    f"session {session.session_id}: {over_wh - point.beyond_cap_wh:.1f} Wh past "
                    f"its cap of {session.cap_wh:.0f} Wh before the relay opened; unbilled",
                    over_wh - point.beyond_cap_wh,
                )
            )
            point.beyond_cap_wh = over_wh
        ahead_wh = self.lead_wh(reading.power_w)
        if point.wanted_closed and used_wh + ahead_wh >= session.cap_wh:
            cap = session.cap_wh
            self._want(
                point, False, f"session {session.session_id} reached its cap of {cap:.0f} Wh"
            )
            point.session = session  # still open on chain until it is closed and billed


def cap_energy_wh(cap_wei: int, tariff_wei_per_wh: int) -> float:
    """The energy a session's deposit pays for at the owner's tariff."""
    return math.inf if tariff_wei_per_wh <= 0 else cap_wei / tariff_wei_per_wh
