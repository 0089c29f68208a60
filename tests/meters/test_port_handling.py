"""Real-board port handling on real ptys: exclusive opens, HUPCL cleared (so a reopen does
not reset an Uno), the dialout message, and a stall that keeps the port open."""

from __future__ import annotations

import errno
import grp
import os
import pty
import queue
import termios
import time
from collections.abc import Iterator
from typing import Any

import pytest

from bench.devices import FirmataMeter, MeterOutage, MeterPoller, MeterReconnected, Reading
from bench.emulator import EmulatedMeter, MeterFarm
from bench.errors import TransportError
from bench.transport import link


@pytest.fixture
def pty_pair() -> Iterator[tuple[int, str]]:
    """A pseudo-terminal: (master fd, slave path), the slave closed (as a board's port)."""
    master, slave = pty.openpty()
    path = os.ttyname(slave)
    os.close(slave)
    yield master, path
    os.close(master)


def hupcl(path: str) -> bool:
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        return bool(termios.tcgetattr(fd)[2] & termios.HUPCL)
    finally:
        os.close(fd)


def set_hupcl(path: str) -> None:
    """The termios of a freshly plugged USB serial port (the kernel's default has HUPCL;
    a pty's does not)."""
    fd = os.open(path, os.O_RDWR | os.O_NOCTTY | os.O_NONBLOCK)
    try:
        attrs = termios.tcgetattr(fd)
        attrs[2] |= termios.HUPCL
        termios.tcsetattr(fd, termios.TCSANOW, attrs)
    finally:
        os.close(fd)


def test_the_first_open_resets_later_opens_do_not(pty_pair: tuple[int, str]) -> None:
    """HUPCL set (the state of a freshly plugged board) means closing dropped DTR, so this
    open resets the board: the bench waits reset_wait_s once, and clears HUPCL so the
    next open finds DTR held and waits no more."""
    _, path = pty_pair
    set_hupcl(path)
    assert hupcl(path)
    port, reset = link.open_local(path)
    port.close()
    assert reset and not hupcl(path)
    port, reset = link.open_local(path)
    port.close()
    assert not reset
    t0 = time.monotonic()
    link.open_settled(path, baud=57600, reset_wait_s=1.5).close()
    assert time.monotonic() - t0 < 1.0  # no reset, no wait


def test_a_port_is_opened_exclusively(pty_pair: tuple[int, str]) -> None:
    _, path = pty_pair
    first, _ = link.open_local(path)
    try:
        with pytest.raises(TransportError, match="another program holds it"):
            link.open_local(path)
    finally:
        first.close()
    link.open_local(path)[0].close()  # free again once closed


def test_permission_denied_names_the_group_and_the_fix(pty_pair: tuple[int, str]) -> None:
    _, path = pty_pair
    group = grp.getgrgid(os.stat(path).st_gid).gr_name
    message = link._open_failure(path, PermissionError(errno.EACCES, "Permission denied", path))
    assert f"not in the {group!r} group" in message
    assert f"sudo usermod -aG {group} $USER" in message


def test_a_stall_keeps_the_port_open_and_the_meter_comes_back(farm: MeterFarm) -> None:
    m = farm.add(EmulatedMeter("stall", power_w=800.0))
    opens: list[float] = []

    def opener() -> FirmataMeter:
        opens.append(time.monotonic())
        return FirmataMeter.open(m.port, timeout_s=0.3)

    q: queue.Queue[Any] = queue.Queue()
    with MeterPoller(opener, q, url=m.port, interval_s=0.05, stale_after_s=0.3) as p:
        deadline = time.monotonic() + 10
        while not p.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        m.stall(1.0)
        time.sleep(1.6)
        deadline = time.monotonic() + 10
        while not p.connected.is_set() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(opens) == 1  # never reopened
        p.reconnect()  # an explicit request does reopen
        deadline = time.monotonic() + 10
        while len(opens) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(opens) == 2
    items = []
    while not q.empty():
        items.append(q.get_nowait())
    events = [type(e) for e in items if not isinstance(e, Reading)]
    stall = events.index(MeterOutage)
    assert events[stall + 1] is MeterReconnected
    outage = next(e for e in items if isinstance(e, MeterOutage))
    assert "keeping the port open" in outage.reason
