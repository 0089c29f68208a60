"""Many emulated meters in one process, each on its own pseudo-terminal (or TCP port).

One I/O thread serves every meter: it reads the host's bytes, delivers them to each
:class:`MeterDevice` at the baud rate through a 64-byte receive ring (:mod:`.uart`: bytes
that arrive while the meter is busy signing and the ring is full are lost, as on an Uno),
and writes its output paced to the baud rate like a UART (10 bit times per byte, a
64-byte TX buffer). Each meter gets a stable symlink
(``.port``) that survives unplug/replug, when the pty itself is replaced.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import math
import os
import selectors
import shutil
import socket
import tempfile
import threading
import time
import tty
import weakref
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from bench.config import FAULT_FIELDS, Faults
from bench.devices import wire
from bench.emulator.device import TX_BUFFER, DeviceStats, Eeprom, MeterDevice
from bench.emulator.memory import MemoryFile
from bench.emulator.physics import MeterPhysics, TruthHandles
from bench.emulator.profile import Profile
from bench.emulator.uart import UartRx
from bench.errors import ConfigError, TransportError

READ_CHUNK = 4096
# Bytes a link may send back to back after being idle: the USB-serial bridge's buffer
# (the Uno's 16U2 buffers 128 bytes). It absorbs scheduling hiccups of this loop up to
# ~22 ms at 57600 baud; the long-run rate never exceeds baud / 10.
LINK_BURST = 128


_RUNNING: weakref.WeakSet[MeterFarm] = weakref.WeakSet()
"""Farms started in this process, so the rig can tell an emulator behind a port."""


def emulated_meter_on(port: str) -> EmulatedMeter | None:
    """The emulated meter of a running farm in this process on ``port``, if any."""
    for farm in list(_RUNNING):
        meter = farm.meter_on(port)
        if meter is not None:
            return meter
    return None


class EmulatedMeter(TruthHandles):
    """One emulated meter: device state, link endpoint and the handles a test drives.

    Every public method is thread-safe (it takes the farm's lock once attached).
    """

    def __init__(
        self,
        meter_id: str,
        profile: Profile | None = None,
        *,
        power_w: float = 0.0,
        key: bytes = wire.DEFAULT_KEY,
        faults: Faults | None = None,
        voltage_v: float = 230.0,
        frequency_hz: float = 50.0,
        power_factor: float = 1.0,
        tcp: bool = False,
        seed: int | None = None,
        firmware_version: tuple[int, int, int] = (1, 0, 0),
        nonce_source: Callable[[int], bytes] = os.urandom,
        sign_s: float = 0.0,
        factory_front_end: bool = False,
        memory: Path | None = None,
    ) -> None:
        """``factory_front_end``: model the firmware's factory front end (325 V and 25 A
        peak), so a larger input clips (READING flags bit 3) as on a real board; by
        default the sensors are sized for whatever load the meter carries. ``memory``: a
        file the meter keeps its EEPROM in (:mod:`.memory`); a meter that finds one there
        comes up from it (:attr:`restored`), with its counters, keys and signed-reading
        sequence, instead of as a fresh meter."""
        if not meter_id or len(meter_id) > 16 or set(meter_id) - wire.METER_ID_CHARS:
            raise ConfigError(
                f"meter id {meter_id!r} is invalid: use 1–16 characters from A–Z a–z 0–9 - _ ."
            )
        self.faults = faults or Faults()
        kept = None if memory is None else MemoryFile(memory)  # private, or refused
        saved = None if memory is None else MemoryFile.load(memory, meter_id)
        self.restored = saved is not None
        """The meter came up from its memory file (its counters did not start at 0)."""
        self.eeprom = saved or Eeprom(meter_id=meter_id, key=key)
        self.physics = MeterPhysics(
            self.eeprom,
            self.faults,
            time.monotonic,
            profile=profile,
            power_w=power_w,
            voltage_v=voltage_v,
            frequency_hz=frequency_hz,
            power_factor=power_factor,
            seed=seed,
            factory_front_end=factory_front_end,
        )
        self.device = MeterDevice(
            self.eeprom,
            self.physics,
            faults=self.faults,
            firmware_version=firmware_version,
            seed=seed,
            nonce_source=nonce_source,
            sign_s=sign_s,
        )
        if kept is not None:
            weakref.finalize(self, kept.close)
            self.device.keep = kept.save
            kept.save(self.eeprom)  # a fresh meter's signing key, born at power-up
        self.name = meter_id
        self.tcp = tcp
        self.lock = threading.RLock()
        self._farm: MeterFarm | None = None
        self.link_path: Path | None = None
        self.pty_name: str | None = None
        self.tcp_port: int | None = None

    @property
    def meter_id(self) -> str:
        """The id stored in the meter's EEPROM."""
        return self.eeprom.meter_id

    @property
    def port(self) -> str:
        """URL for the host: a stable pty symlink, or ``socket://127.0.0.1:PORT``."""
        if self.tcp_port is not None:
            return f"socket://127.0.0.1:{self.tcp_port}"
        if self.link_path is None:
            raise TransportError(
                f"emulated meter {self.meter_id} has no port yet; add it to a started MeterFarm"
            )
        return str(self.link_path)

    # -- truth handles for tests and scenarios (set_power, energy_wh, ...) ------------
    def _power_changing(self) -> None:
        if self._farm is not None:
            self._farm._settle_followers()

    def follow(self, source: Callable[[float], float]) -> None:
        """Take the power at each simulated instant from ``source`` from now on."""
        with self.lock:
            self.physics.follow(source)

    def settle(self) -> None:
        """Integrate the true counters up to now (before the power it follows changes)."""
        with self.lock:
            self.physics.advance()

    def limit(self, limiter: Callable[[float, float], float] | None) -> None:
        """Draw ``limiter(t, unlimited power)`` from now on (the grid's limits)."""
        with self.lock:
            self._power_changing()
            self.physics.limit(limiter)

    def set_faults(self, **changes: float | bool) -> None:
        """Change fault settings (fields of :class:`Faults`), effective at once."""
        with self.lock:
            for name, value in changes.items():
                if name not in FAULT_FIELDS:
                    raise ConfigError(f"unknown fault {name!r}; known: {FAULT_FIELDS}")
                setattr(self.faults, name, value)

    def reading_time_s(self, boot_count: int, seq: int) -> float | None:
        """The meter's own clock when it read the counters of READING ``seq`` of boot
        ``boot_count`` (see :meth:`MeterDevice.reading_time_s`)."""
        return self.device.reading_time_s(boot_count, seq)

    def latch_boundaries(self, origin_s: float, period_s: float) -> None:
        """Latch the counters at every ``origin_s + k * period_s`` of the meter's own
        clock (k ≥ 1), as a billing register does (:meth:`MeterPhysics.latch_boundaries`)."""
        with self.lock:
            self.physics.latch_boundaries(origin_s, period_s)

    def latched_wh(self, k: int) -> tuple[float, float] | None:
        """(import, export) Wh the meter's registers showed at boundary ``k`` of
        :meth:`latch_boundaries` (whole mWh, as a READING carries them); None before its
        clock got there. Not on the wire: the bench cuts an in-process emulator there."""
        with self.lock:
            latched = self.physics.latched_mwh(k)
            if latched is not None:
                self.device.keep(self.eeprom)
        return None if latched is None else (latched[0] / 1000, latched[1] / 1000)

    def real_time_of(self, meter_time_s: float) -> float | None:
        """The host monotonic instant at which this meter's clock showed
        ``meter_time_s``; None when it is in no farm or its farm follows an outside clock
        it cannot invert."""
        farm = self._farm
        return None if farm is None else farm.real_time_of(meter_time_s)

    @property
    def stats(self) -> DeviceStats:
        """Frames sent, dropped, truncated, garbage bytes."""
        return self.device.stats

    # -- link faults -------------------------------------------------------------
    def reboot(self) -> None:
        """Reset the meter: boot count +1, RAM state lost, counters kept (EEPROM)."""
        farm = self._require_farm()
        with self.lock:
            self.physics.advance()
            farm._queue_output(self, self.device.boot(time.monotonic()))

    def unplug(self, down_s: float | None = None) -> None:
        """Pull the cable: the pty closes; it reappears after ``down_s`` (or :meth:`replug`)."""
        self._require_farm()._unplug(self, down_s)

    def replug(self) -> None:
        """Plug the cable back in: a new pty behind the same ``.port`` symlink."""
        self._require_farm()._replug(self)

    def stall(self, seconds: float) -> None:
        """Silence the link both ways for ``seconds``; output meanwhile is lost."""
        self._require_farm()._stall(self, seconds)

    def _require_farm(self) -> MeterFarm:
        if self._farm is None:
            raise ConfigError(f"emulated meter {self.meter_id} is not in a MeterFarm yet")
        return self._farm


@dataclass(eq=False)
class _Slot:
    meter: EmulatedMeter
    fd: int = -1
    keep_fd: int = -1
    listener: socket.socket | None = None
    conn: socket.socket | None = None
    out: bytearray | None = None
    credit: float = LINK_BURST
    t_credit: float = 0.0
    due: float = math.inf
    blocked: bool = False
    stalled_until: float = 0.0
    replug_at: float = math.inf
    plugged: bool = False
    rx: UartRx | None = None
    rx_paused: bool = False  # not reading the host: the bytes in flight fill the bridge


class MeterFarm:
    """Runs emulated meters on one I/O thread; use as a context manager."""

    def __init__(
        self,
        meters: Iterable[EmulatedMeter] = (),
        *,
        baud: int = 57600,
        speed: float = 1.0,
        sim_clock: Callable[[], float] | None = None,
        sim_start_s: float = 0.0,
        link_dir: str | Path | None = None,
        real_time_of: Callable[[float], float] | None = None,
    ) -> None:
        if speed <= 0:
            raise ConfigError(f"speed must be > 0 (got {speed}); 1 is real time")
        self.bytes_per_s = baud / 10
        self._t0 = time.monotonic()
        self._sim_clock = sim_clock or (lambda: sim_start_s + speed * (time.monotonic() - self._t0))
        if sim_clock is None:
            real_time_of = lambda sim_s: self._t0 + (sim_s - sim_start_s) / speed  # noqa: E731
        self._real_time_of = real_time_of
        self._own_dir = link_dir is None
        self.link_dir = Path(link_dir or tempfile.mkdtemp(prefix="gridbench-meters-"))
        self.link_dir.mkdir(parents=True, exist_ok=True)
        self._lock = threading.RLock()
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = os.pipe()
        os.set_blocking(self._wake_r, False)
        os.set_blocking(self._wake_w, False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._slots: dict[str, _Slot] = {}
        self._heap: list[tuple[float, int, _Slot]] = []
        self._tie = itertools.count()
        self._backlog: set[_Slot] = set()
        self._receiving: set[_Slot] = set()
        self._timed: set[_Slot] = set()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self.loop_error: BaseException | None = None
        for m in meters:
            self.add(m)

    # -- public ------------------------------------------------------------------
    @property
    def meters(self) -> dict[str, EmulatedMeter]:
        """Meters by name (the id they were created with)."""
        return {mid: s.meter for mid, s in self._slots.items()}

    def sim_now(self) -> float:
        """The simulated time the meters integrate in."""
        return self._sim_clock()

    def real_time_of(self, sim_s: float) -> float | None:
        """The host monotonic instant at which the meters' clock showed ``sim_s`` (None
        when the farm follows an outside ``sim_clock`` given without its inverse)."""
        return None if self._real_time_of is None else self._real_time_of(sim_s)

    def meter_on(self, port: str) -> EmulatedMeter | None:
        """The meter answering on ``port`` (its ``.port``), if it is in this farm."""
        with self._lock:
            for slot in self._slots.values():
                meter = slot.meter
                if meter.link_path is not None and port == str(meter.link_path):
                    return meter
                if meter.tcp_port is not None and port == meter.port:
                    return meter
        return None

    def add(self, meter: EmulatedMeter) -> EmulatedMeter:
        """Attach a meter, open its pty (or TCP port) and boot it."""
        with self._lock:
            if meter.name in self._slots:
                raise ConfigError(f"two emulated meters named {meter.name!r}; names must be unique")
            meter._farm = self
            meter.lock = self._lock
            meter.physics.use_clock(self._sim_clock)
            meter.device.before_relay = self._settle_followers  # a step in the flow
            slot = _Slot(
                meter, out=bytearray(), t_credit=time.monotonic(), rx=UartRx(self.bytes_per_s)
            )
            self._slots[meter.name] = slot
            if meter.tcp:
                self._listen(slot)
            else:
                self._plug(slot)
            self._queue_output(meter, meter.device.boot(time.monotonic()))
        self._wake()
        return meter

    def start(self) -> MeterFarm:
        """Start the I/O thread."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="meter-farm", daemon=True)
            self._thread.start()
            _RUNNING.add(self)
        return self

    def stop(self) -> None:
        """Stop the thread, close every pty and socket, remove the symlinks."""
        _RUNNING.discard(self)
        self._stop.set()
        self._wake()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        with self._lock:
            for slot in self._slots.values():
                self._unplug_now(slot)
        self._sel.close()
        for fd in (self._wake_r, self._wake_w):
            with contextlib.suppress(OSError):
                os.close(fd)
        if self._own_dir:
            shutil.rmtree(self.link_dir, ignore_errors=True)

    def __enter__(self) -> MeterFarm:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _settle_followers(self) -> None:
        """Integrate the meters that follow others' power (the emulated feeder, and the
        meters the grid's limits act on) up to now, before a power in the farm changes, so
        the step lands at its instant."""
        with self._lock:
            for slot in self._slots.values():
                physics = slot.meter.physics
                if physics.power_source is not None or physics.limiter is not None:
                    physics.advance()

    # -- link management (under the lock) ---------------------------------------
    def _plug(self, slot: _Slot) -> None:
        master, slave = os.openpty()
        tty.setraw(slave)
        os.set_blocking(master, False)
        slot.fd, slot.keep_fd = master, slave
        slot.meter.pty_name = os.ttyname(slave)
        link = self.link_dir / slot.meter.name
        tmp = link.with_suffix(".new")
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        tmp.symlink_to(slot.meter.pty_name)
        tmp.replace(link)
        slot.meter.link_path = link
        slot.plugged = True
        slot.replug_at = math.inf
        slot.credit = LINK_BURST
        self._reset_rx(slot)
        self._sel.register(master, selectors.EVENT_READ, slot)

    def _reconnect(self, slot: _Slot) -> None:
        if slot.meter.tcp:
            self._listen(slot)
        else:
            self._plug(slot)

    def _listen(self, slot: _Slot) -> None:
        lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        lst.bind(("127.0.0.1", slot.meter.tcp_port or 0))  # the same port after a replug
        lst.listen(1)
        lst.setblocking(False)
        slot.listener = lst
        slot.meter.tcp_port = lst.getsockname()[1]
        slot.plugged = True
        slot.replug_at = math.inf
        self._sel.register(lst, selectors.EVENT_READ, ("accept", slot))

    def _accept(self, slot: _Slot) -> None:
        assert slot.listener is not None
        try:
            conn, _ = slot.listener.accept()
        except BlockingIOError:
            return
        if slot.conn is not None:
            self._drop_conn(slot)
        conn.setblocking(False)
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        slot.conn, slot.fd = conn, conn.fileno()
        slot.out = bytearray()
        self._reset_rx(slot)
        self._sel.register(conn, selectors.EVENT_READ, slot)

    def _drop_conn(self, slot: _Slot) -> None:
        if slot.conn is not None:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(slot.conn)
            slot.conn.close()
            slot.conn, slot.fd = None, -1

    def _reset_rx(self, slot: _Slot) -> None:
        slot.rx = UartRx(self.bytes_per_s)
        slot.rx_paused = False
        self._receiving.discard(slot)

    def _unplug_now(self, slot: _Slot) -> None:
        if slot.meter.tcp:
            self._drop_conn(slot)
            if slot.listener is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(slot.listener)
                slot.listener.close()
                slot.listener = None
            slot.plugged = False
            return
        if slot.fd >= 0:
            with contextlib.suppress(KeyError, ValueError):
                self._sel.unregister(slot.fd)
            for fd in (slot.fd, slot.keep_fd):
                with contextlib.suppress(OSError):
                    os.close(fd)
        slot.fd = slot.keep_fd = -1
        slot.plugged = False
        if slot.meter.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                slot.meter.link_path.unlink()
        assert slot.out is not None
        slot.out.clear()
        self._backlog.discard(slot)

    def _unplug(self, meter: EmulatedMeter, down_s: float | None) -> None:
        with self._lock:
            slot = self._slots[meter.name]
            self._unplug_now(slot)
            if down_s is not None:
                slot.replug_at = time.monotonic() + down_s
                self._timed.add(slot)
        self._wake()

    def _replug(self, meter: EmulatedMeter) -> None:
        with self._lock:
            slot = self._slots[meter.name]
            if not slot.plugged:
                self._reconnect(slot)
        self._wake()

    def _stall(self, meter: EmulatedMeter, seconds: float) -> None:
        with self._lock:
            slot = self._slots[meter.name]
            slot.stalled_until = time.monotonic() + seconds
            self._timed.add(slot)
            if slot.fd >= 0 and not meter.tcp:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(slot.fd)
            elif slot.conn is not None:
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.unregister(slot.conn)
        self._wake()

    def _queue_output(self, meter: EmulatedMeter, data: bytes) -> None:
        slot = self._slots[meter.name]
        if data and slot.fd >= 0 and time.monotonic() >= slot.stalled_until:
            assert slot.out is not None
            slot.out += data
            self._backlog.add(slot)
        self._schedule(slot)
        self._wake()

    def _schedule(self, slot: _Slot) -> None:
        due = slot.meter.device.next_due()
        if due < slot.due or (due != slot.due and not slot.blocked):
            slot.due = due
            if due < math.inf:
                heapq.heappush(self._heap, (due, next(self._tie), slot))

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            os.write(self._wake_w, b"x")

    # -- the I/O thread ------------------------------------------------------------
    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                self._step()
        except BaseException as exc:  # surfaced to tests via loop_error
            self.loop_error = exc
            raise

    def _timeout(self, now: float) -> float:
        t = 0.05
        if self._heap:
            t = min(t, self._heap[0][0] - now)
        if self._backlog:
            t = min(t, 0.001)
        for slot in self._receiving:
            assert slot.rx is not None
            t = min(t, max(slot.rx.next_event(slot.meter.device) - now, 0.001))
        for slot in self._timed:
            t = min(t, slot.replug_at - now)
            if slot.stalled_until > 0:
                t = min(t, slot.stalled_until - now)
        return max(0.0, t)

    def _step(self) -> None:
        with self._lock:
            timeout = self._timeout(time.monotonic())
        events = self._sel.select(timeout)
        with self._lock:
            now = time.monotonic()
            for key, _ in events:
                data = key.data
                if data is None:
                    with contextlib.suppress(BlockingIOError):
                        os.read(self._wake_r, 4096)
                elif isinstance(data, tuple):
                    self._accept(data[1])
                else:
                    self._read(data, now)
            self._timers(now)
            for slot in list(self._receiving):
                self._deliver(slot, now)
            self._run_due(now)
            for slot in list(self._backlog):
                self._flush(slot, now)

    def _read(self, slot: _Slot, now: float) -> None:
        assert slot.rx is not None
        if slot.rx.full:
            self._pause_rx(slot)
            return
        try:
            data = os.read(slot.fd, READ_CHUNK)
        except BlockingIOError:
            return
        except OSError as exc:
            if exc.errno in (errno.EIO, errno.ECONNRESET, errno.EBADF):
                data = b""
            else:
                raise
        if not data:
            if slot.meter.tcp:
                self._drop_conn(slot)
            return
        slot.rx.put(data, now)
        self._receiving.add(slot)

    def _deliver(self, slot: _Slot, now: float) -> None:
        """Bytes that reached the meter by ``now``: into its loop, or its ring, or lost."""
        rx = slot.rx
        assert rx is not None
        replies = rx.deliver(slot.meter.device, now)
        if replies and slot.fd >= 0 and now >= slot.stalled_until:
            assert slot.out is not None
            slot.out += replies
            self._backlog.add(slot)
        self._schedule(slot)
        if rx.idle:
            self._receiving.discard(slot)
        if slot.rx_paused and not rx.full and slot.fd >= 0 and now >= slot.stalled_until:
            slot.rx_paused = False
            with contextlib.suppress(KeyError, ValueError):
                self._sel.register(self._endpoint(slot), selectors.EVENT_READ, slot)

    def _pause_rx(self, slot: _Slot) -> None:
        slot.rx_paused = True
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(self._endpoint(slot))

    @staticmethod
    def _endpoint(slot: _Slot) -> socket.socket | int:
        return slot.conn if slot.meter.tcp and slot.conn is not None else slot.fd

    def _timers(self, now: float) -> None:
        for slot in list(self._timed):
            if slot.replug_at <= now:
                self._reconnect(slot)
            if 0 < slot.stalled_until <= now:
                slot.stalled_until = 0.0
                target = slot.conn if slot.meter.tcp else slot.fd
                if target is not None and target != -1:
                    with contextlib.suppress(KeyError, ValueError):
                        self._sel.register(target, selectors.EVENT_READ, slot)
            if slot.replug_at == math.inf and slot.stalled_until == 0:
                self._timed.discard(slot)

    def _run_due(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            due, _, slot = heapq.heappop(heap)
            if due != slot.due:
                continue
            assert slot.out is not None
            room = TX_BUFFER - len(slot.out)
            data = slot.meter.device.poll(now, room)
            stalled = now < slot.stalled_until
            if data and slot.fd >= 0 and not stalled:
                slot.out += data
                self._backlog.add(slot)
            nxt = slot.meter.device.next_due()
            slot.blocked = nxt <= now and not stalled and slot.fd >= 0
            if slot.blocked:
                slot.due = math.inf  # re-armed by _flush when the TX buffer drains
            else:
                slot.due = nxt
                if nxt < math.inf:
                    heapq.heappush(heap, (nxt, next(self._tie), slot))

    def _flush(self, slot: _Slot, now: float) -> None:
        out = slot.out
        assert out is not None
        slot.credit = min(LINK_BURST, slot.credit + (now - slot.t_credit) * self.bytes_per_s)
        slot.t_credit = now
        n = min(len(out), int(slot.credit))
        if n and slot.fd >= 0:
            try:
                written = os.write(slot.fd, out[:n])
            except (BlockingIOError, InterruptedError):
                written = 0
            except OSError:
                written = len(out)  # the other end is gone: the bytes fall on the floor
            del out[:written]
            slot.credit -= written
        if not out or slot.fd < 0:
            out.clear()
            self._backlog.discard(slot)
        if slot.blocked and len(out) < TX_BUFFER:
            slot.blocked = False
            slot.due = now
            heapq.heappush(self._heap, (now, next(self._tie), slot))
