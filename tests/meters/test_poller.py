"""The reader thread: reconnects with backoff, reports outages, and loses no energy."""

from __future__ import annotations

import itertools
import queue
import time
from typing import Any

import pytest

from bench.config import BenchConfig, MeterConfig
from bench.devices import (
    EnergyTracker,
    FirmataMeter,
    MeterOnline,
    MeterOutage,
    MeterPoller,
    MeterRebooted,
    MeterReconnected,
    Reading,
)
from bench.devices.fake import FakeMeter
from bench.emulator import EmulatedMeter, MeterFarm
from bench.errors import TransportError
from bench.rig import MeterSite, open_meter


def drain(q: queue.Queue[Any]) -> list[Any]:
    out = []
    while True:
        try:
            out.append(q.get_nowait())
        except queue.Empty:
            return out


def firmata(url: str) -> Any:
    """An opener for the project's firmware on ``url`` (an emulated meter's pty)."""
    return lambda: FirmataMeter.open(url)


def wait_for(pred: Any, timeout_s: float = 5.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not pred():
        if time.monotonic() > deadline:
            pytest.fail("condition not reached in time")
        time.sleep(0.02)


def test_no_energy_lost_across_unplug_stall_and_reboot(fast_farm: MeterFarm) -> None:
    m = fast_farm.add(EmulatedMeter("home", power_w=1200.0))
    q: queue.Queue[Any] = queue.Queue()
    p = MeterPoller(
        firmata(m.port),
        q,
        url=m.port,
        interval_s=0.05,
        stale_after_s=0.25,
        backoff_initial_s=0.05,
        backoff_max_s=0.2,
    )
    with p:
        wait_for(p.connected.is_set)
        time.sleep(0.2)
        m.unplug(0.4)
        time.sleep(0.8)
        m.set_power(-800.0)  # the prosumer starts exporting
        m.reboot()
        time.sleep(0.3)
        m.stall(0.5)
        time.sleep(1.2)
        wait_for(p.connected.is_set)
        time.sleep(0.3)
    items = drain(q)
    readings = [r for r in items if isinstance(r, Reading)]
    kinds = [type(e) for e in items if not isinstance(e, Reading)]
    assert kinds[0] is MeterOnline
    assert kinds.count(MeterOutage) >= 2 and kinds.count(MeterReconnected) >= 2
    assert MeterRebooted in kinds
    assert all(
        kinds[i + 1] in (MeterReconnected, MeterOutage)
        for i, k in enumerate(kinds[:-1])
        if k is MeterOutage
    )
    tracker = EnergyTracker()
    deltas = [d for r in readings if (d := tracker.update(r)) is not None]
    first, last = readings[0], readings[-1]
    assert any(d.across_reboot for d in deltas)
    assert tracker.regressions == 0
    # the deltas kept counting through the outages: they add up to the meter's truth
    true_imp, true_exp = m.energy_wh()
    assert first.energy_import_wh + sum(d.import_wh for d in deltas) == pytest.approx(
        true_imp, rel=0.01
    )
    assert last.energy_import_wh == pytest.approx(true_imp, rel=0.01)
    assert last.energy_export_wh <= true_exp and last.energy_export_wh > 0.5 * true_exp
    assert p.stats.reboots == 1 and p.stats.outages >= 2


def test_backoff_doubles_up_to_the_cap() -> None:
    calls: list[float] = []

    def opener() -> Any:
        calls.append(time.monotonic())
        raise TransportError("no such port")

    q: queue.Queue[Any] = queue.Queue()
    with MeterPoller(opener, q, url="nowhere", backoff_initial_s=0.05, backoff_max_s=0.2):
        time.sleep(1.0)
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    assert gaps[:3] == pytest.approx([0.05, 0.1, 0.2], abs=0.03)
    assert max(gaps) < 0.26
    events = drain(q)
    assert len(events) == 1 and isinstance(events[0], MeterOutage)  # one outage, not one per try
    assert "no such port" in events[0].reason


def test_wrong_meter_on_the_port_is_reported_once_and_never_reopened(farm: MeterFarm) -> None:
    """A fresh board answers 'meter': the outage says to provision it, and the poller does
    not reopen the port (on an Uno every open resets the board)."""
    m = farm.add(EmulatedMeter("meter"))
    q: queue.Queue[Any] = queue.Queue()
    opens = []

    def opener() -> FirmataMeter:
        opens.append(time.monotonic())
        return firmata(m.port)()

    with MeterPoller(opener, q, url=m.port, expect_meter_id="expected", backoff_initial_s=0.05):
        wait_for(lambda: not q.empty())
        time.sleep(0.4)  # eight backoffs' worth: a retrying poller would reopen meanwhile
    first = q.get_nowait()
    assert isinstance(first, MeterOutage) and "'expected'" in first.reason
    assert "gridbench meter provision" in first.reason
    assert len(opens) == 1


def test_commands_run_on_the_reader_thread(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("cmd", power_w=300.0))
    q: queue.Queue[Any] = queue.Queue()
    with MeterPoller(firmata(m.port), q, url=m.port, interval_s=0.05) as p:
        wait_for(p.connected.is_set)
        p.set_relay(False).result(timeout=2)
        assert m.relay_closed is False
        assert p.submit(lambda meter: meter.identity().meter_id).result(timeout=2) == "cmd"
        time.sleep(0.2)
    latest = [r for r in drain(q) if isinstance(r, Reading)][-1]
    assert latest.relay_closed is False and latest.power_w == 0


def test_the_configured_baud_rate_reaches_the_port(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("fast", power_w=300.0))
    meter = MeterConfig("fast", kind="firmata", port=m.port, allow_default_key=True)
    bench = BenchConfig(meters=(meter,), baud=115200, reset_wait_s=0.0)
    q: queue.Queue[Any] = queue.Queue()
    opener = lambda: open_meter(meter, bench, MeterSite(m.port))  # noqa: E731
    with MeterPoller(opener, q, url=m.port, interval_s=0.05) as p:
        wait_for(p.connected.is_set)
        baud = p.submit(lambda meter: meter.link._port.baudrate).result(timeout=2)  # type: ignore[attr-defined]
    assert baud == 115200


def test_commands_fail_cleanly_while_disconnected() -> None:
    q: queue.Queue[Any] = queue.Queue()

    def opener() -> Any:
        raise TransportError("unplugged")

    with MeterPoller(opener, q, url="x", backoff_initial_s=0.05) as p:
        fut = p.set_relay(True)
        with pytest.raises(TransportError, match="not connected"):
            fut.result(timeout=2)


def test_poll_mode_and_a_fake_meter() -> None:
    fake = FakeMeter("f", power_w=100.0)
    q: queue.Queue[Any] = queue.Queue()
    with MeterPoller(lambda: fake, q, url="fake://f", mode="poll", interval_s=0.05) as p:
        wait_for(lambda: p.stats.readings >= 5)
    readings = [r for r in drain(q) if isinstance(r, Reading)]
    assert [r.seq for r in readings] == list(
        range(readings[0].seq, readings[0].seq + len(readings))
    )
    assert fake.closed


def test_a_driver_bug_is_an_outage_not_a_dead_thread() -> None:
    opened: list[FakeMeter] = []

    class Buggy(FakeMeter):
        def next_readings(self, timeout_s: float) -> list[Reading]:
            if len(opened) == 1:
                raise RuntimeError("boom")
            return super().next_readings(timeout_s)

    def opener() -> FakeMeter:
        opened.append(Buggy("b", power_w=1.0))
        return opened[-1]

    q: queue.Queue[Any] = queue.Queue()
    with MeterPoller(opener, q, url="fake://b", interval_s=0.02, backoff_initial_s=0.01) as p:
        wait_for(lambda: p.stats.readings >= 3)
    events = [e for e in drain(q) if not isinstance(e, Reading)]
    assert [type(e) for e in events[:3]] == [MeterOnline, MeterOutage, MeterReconnected]
    assert "boom" in events[1].reason
    assert all(m.closed for m in opened)


def test_a_fake_reading_is_stamped_at_the_instant_its_energy_was_counted() -> None:
    """The energy clock moves on between any two reads of it (a preemption at 3600x is Wh
    of a kW meter): the stamp must be the host instant of the energy's own clock time."""
    ticks = iter(range(0, 10_000, 7))
    fake = FakeMeter(
        "f",
        power_w=3600.0,
        clock=lambda: float(next(ticks)),
        host_time_of=lambda sim_s: 1000.0 + sim_s / 10,
    )
    for _ in range(5):
        r = fake.read()
        # 3600 W for (stamp - 1000) * 10 simulated seconds since the clock's first tick 0
        assert r.energy_import_wh == pytest.approx((r.t_s - 1000.0) * 10)
