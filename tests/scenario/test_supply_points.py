"""Supply points fail closed: relay commands retried and confirmed by the meter's readings,
locked at the cap, manual control only in maintenance mode; failures are findings.

A unit test of one layer: the fleet is replaced by a stand-in speaking the same calls
(a relay command returns a future; the meter's readings carry its relay flag)."""

from __future__ import annotations

import threading
import time
from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import cast

import pytest

from bench.devices import Reading
from bench.errors import TransportError
from bench.events import (
    MaintenanceMode,
    RelayConfirmed,
    RelaySwitched,
    StatusEvent,
    SupplyFault,
    SupplyPointFinding,
)
from bench.scenario.fleet import MeterFleet
from bench.scenario.supply_points import SupplyPoints, cap_energy_wh


@dataclass
class StandInMeter:
    """A meter's relay and import counter; ``fail`` relay commands fail (link down),
    ``ignore`` ones are acknowledged but not executed (a lost frame)."""

    relay_closed: bool = True
    import_wh: float = 0.0
    power_w: float = 6000.0
    fail: int = 0
    ignore: int = 0
    commands: list[bool] = field(default_factory=list)
    t_s: float = 0.0
    latest: Reading | None = None

    def tick(self, dt_s: float = 0.1, wh_per_s: float = 10.0) -> None:
        # readings are stamped with the host clock at receipt, like a poller's
        self.t_s = max(self.t_s + 1e-6, time.monotonic())
        if self.relay_closed:
            self.import_wh += wh_per_s * dt_s
        power = self.power_w if self.relay_closed else 0.0
        self.latest = Reading(
            "ev", self.t_s, 230, 1, power, 1, 50, self.import_wh, 0.0, self.relay_closed, 0, 1
        )


class StandInFleet:
    def __init__(self, meter: StandInMeter) -> None:
        self.meter = meter

    def set_relay(self, meter_id: str, closed: bool) -> Future[None]:
        fut: Future[None] = Future()
        self.meter.commands.append(closed)
        if self.meter.fail:
            self.meter.fail -= 1
            fut.set_exception(TransportError("meter on ev is not connected; retry later"))
        elif self.meter.ignore:
            self.meter.ignore -= 1
            fut.set_result(None)
        else:
            self.meter.relay_closed = closed
            fut.set_result(None)
        return fut

    def latest(self, meter_id: str) -> Reading | None:
        return self.meter.latest

    def collect(self) -> dict[str, Reading]:
        return {} if self.meter.latest is None else {"ev": self.meter.latest}


def _points(meter: StandInMeter, confirm_timeout_s: float = 60.0, **kwargs: float) -> SupplyPoints:
    meter.tick()
    fleet = cast(MeterFleet, StandInFleet(meter))
    points = SupplyPoints(
        fleet, {"ev"}, lambda: meter.t_s, confirm_timeout_s=confirm_timeout_s, **kwargs
    )
    points.poll()  # the worker's first tick: a supply point starts locked
    return points


def _run(points: SupplyPoints, meter: StandInMeter, ticks: int, **tick: float) -> list[StatusEvent]:
    out: list[StatusEvent] = []
    for _ in range(ticks):
        meter.tick(**tick)
        out += points.poll()
    return out


def test_a_lock_is_confirmed_only_by_a_reading_taken_after_it() -> None:
    meter = StandInMeter(relay_closed=True)
    points = _points(meter)
    assert points.poll() == []  # the lock went out; no reading since
    (confirmed,) = _run(points, meter, 1)
    assert isinstance(confirmed, RelayConfirmed) and not confirmed.closed
    assert meter.commands == [False] and not meter.relay_closed


def test_a_lost_command_is_retried_until_the_reading_shows_it() -> None:
    meter = StandInMeter(relay_closed=True, ignore=2)
    points = _points(meter, confirm_timeout_s=0.0)
    events = _run(points, meter, 6)
    assert meter.commands == [False, False, False] and not meter.relay_closed
    assert [type(e) for e in events if not isinstance(e, SupplyPointFinding)] == [RelayConfirmed]


def test_a_relay_that_never_answers_is_a_finding_not_a_crash() -> None:
    meter = StandInMeter(relay_closed=True, fail=100)
    points = _points(meter, confirm_timeout_s=0.0, retries=3)
    events = _run(points, meter, 10)
    relay = [
        e for e in events if isinstance(e, SupplyPointFinding) and e.fault is SupplyFault.RELAY
    ]
    assert len(relay) == 1 and "not confirmed open" in relay[0].message
    assert len(meter.commands) > 3  # it keeps trying to fail closed
    unbilled = [
        e
        for e in events
        if isinstance(e, SupplyPointFinding) and e.fault is SupplyFault.UNAUTHORISED
    ]
    assert sum(e.energy_wh for e in unbilled) > 0  # and says what flowed meanwhile


def test_the_relay_opens_before_the_cap_and_no_energy_passes_it() -> None:
    meter = StandInMeter(relay_closed=False)
    # 10 Wh/s real at 6 kW means speed 6: the lead is 1.5 readings (0.1 s) at 6 kW
    points = _points(meter, speed=6.0, reading_interval_s=0.1)
    _run(points, meter, 1)
    points.unlock("ev", 7, start_counter_wh=meter.import_wh, cap_wh=20.0)
    events = _run(points, meter, 40)
    used_wh = meter.import_wh
    assert not meter.relay_closed and meter.commands[-2:] == [True, False]
    assert 20.0 - 2.0 <= used_wh <= 20.0  # locked within one reading of the cap, not past it
    assert not any(isinstance(e, SupplyPointFinding) for e in events)
    assert points.session_of("ev") == 7  # still open on chain until billed


def test_energy_past_the_cap_is_reported_with_its_wh() -> None:
    meter = StandInMeter(relay_closed=False, ignore=100)  # the lock never takes effect
    points = _points(meter, speed=6.0, reading_interval_s=0.1)
    meter.ignore = 0
    points.unlock("ev", 7, start_counter_wh=meter.import_wh, cap_wh=5.0)
    _run(points, meter, 1)
    meter.ignore = 100
    events = _run(points, meter, 20)
    past = [
        e for e in events if isinstance(e, SupplyPointFinding) and e.fault is SupplyFault.BEYOND_CAP
    ]
    assert sum(e.energy_wh for e in past) == meter.import_wh - 5.0


def test_manual_switching_needs_maintenance_mode_and_its_energy_is_accounted() -> None:
    meter = StandInMeter(relay_closed=False)
    points = _points(meter)
    refused = points.switch_by_hand("ev", True)
    assert isinstance(refused, RelaySwitched) and "maintenance" in (refused.error or "")
    assert True not in meter.commands
    assert isinstance(points.set_maintenance("ev", True), MaintenanceMode)
    assert points.switch_by_hand("ev", True) is None
    events = _run(points, meter, 10)
    assert any(isinstance(e, RelaySwitched) and e.error is None and e.closed for e in events)
    assert not any(isinstance(e, SupplyPointFinding) for e in events)
    off = points.set_maintenance("ev", False)
    assert isinstance(off, MaintenanceMode) and off.energy_wh == meter.import_wh
    _run(points, meter, 2)
    assert not meter.relay_closed  # ending maintenance locks the supply point again


def test_cap_energy_is_the_deposit_at_the_tariff() -> None:
    assert cap_energy_wh(9_000_000, 200) == 45_000


def test_energy_while_a_session_close_waits_for_its_lock_is_billed_not_unauthorised() -> None:
    """The final counter bills everything up to the confirming reading, so the energy
    drawn while the lock is in flight (a lost frame, then a retry) is the session's."""
    meter = StandInMeter(relay_closed=False)
    points = _points(meter, confirm_timeout_s=0.1)
    _run(points, meter, 1)
    points.unlock("ev", 3, start_counter_wh=meter.import_wh, cap_wh=None)
    _run(points, meter, 3)
    assert meter.relay_closed
    before_wh = meter.import_wh
    meter.ignore = 1  # the first lock command is lost: energy keeps flowing until the retry
    ticking = threading.Event()

    def tick() -> None:
        while not ticking.wait(0.01):
            meter.tick()

    ticker = threading.Thread(target=tick)
    ticker.start()
    try:
        final = points.lock_and_confirm("ev", "session 3 closed", timeout_s=30.0)
    finally:
        ticking.set()
        ticker.join()
    assert final is not None and not final.relay_closed
    assert final.energy_import_wh > before_wh  # energy flowed while the lock was in flight
    unauthorised = [
        e
        for e in points.poll()
        if isinstance(e, SupplyPointFinding) and e.fault is SupplyFault.UNAUTHORISED
    ]
    assert unauthorised == []


def test_the_lead_at_a_cap_grows_with_the_slowest_relay_command_seen() -> None:
    """A loaded machine's slow relay command (here 0.3 s to be acknowledged) locks later:
    the lead ahead of a cap takes it in, so the next lock goes out earlier."""
    meter = StandInMeter(relay_closed=False)
    points = _points(meter, speed=6.0, reading_interval_s=0.1)
    before_wh = points.lead_wh(6000.0)
    assert before_wh == pytest.approx(6000.0 * 6.0 * 1.5 * 0.1 / 3600.0, rel=0.05)
    fleet = points.fleet
    set_relay = fleet.set_relay

    def slow(meter_id: str, closed: bool) -> Future[None]:
        fut: Future[None] = Future()
        threading.Timer(0.3, lambda: set_relay(meter_id, closed).add_done_callback(
            lambda _f: fut.set_result(None))).start()  # fmt: skip
        return fut

    fleet.set_relay = slow  # type: ignore[method-assign]
    points.unlock("ev", 7, start_counter_wh=meter.import_wh, cap_wh=None)
    deadline = time.monotonic() + 5.0
    while not meter.relay_closed and time.monotonic() < deadline:
        _run(points, meter, 1, dt_s=0.0)
        time.sleep(0.01)
    _run(points, meter, 2)
    assert points.lead_wh(6000.0) >= 6000.0 * 6.0 * 1.5 * (0.1 + 0.3) / 3600.0
    assert points.lead_wh(6000.0) < 6000.0 * 6.0 * 1.5 * (0.1 + 1.0) / 3600.0


def test_a_resume_takes_up_the_killed_run_s_relay_latency_and_never_narrows_it() -> None:
    meter = StandInMeter(relay_closed=False)
    points = _points(meter, speed=6.0, reading_interval_s=0.1)
    points.carry_command_s(0.3)
    assert points.relay_command_s == pytest.approx(0.3)
    assert points.lead_wh(6000.0) == pytest.approx(6000.0 * 6.0 * 1.5 * 0.4 / 3600.0)
    points.carry_command_s(0.1)
    assert points.relay_command_s == pytest.approx(0.3)
