"""Emulated gridmeters that talk to an MQTT broker instead of a serial line.

Each meter is the same :class:`MeterDevice` and :class:`MeterPhysics` as on a pty; its
host bytes arrive on ``…/rx`` and its replies leave on ``…/tx`` (docs/mqtt.md). Besides
answering, each meter publishes a JSON reading every ``reading_interval_s`` and, every
``checkpoint_every`` readings, a signed checkpoint (the meter-signed counters of
bench/attestation.py). Each meter has its own client and persistent session (its last
will marks it offline when the broker loses it).

One thread serves a whole fleet: every client's socket is in one selector (paho's
external-loop interface: ``loop_read``, ``loop_write``, ``loop_misc``), and readings,
streamed frames and reconnections are timers on one heap, so a process holds thousands
of meters without a thread or a 10 ms scan per meter. paho is touched from that thread
only; the handles other threads call (``reboot``, ``unplug``, ``replug``) are queued to
it. Faults: the configured output faults on its frames, ``drop_rate`` also on readings,
:meth:`MqttEmulatedMeter.unplug` (the connection drops without a goodbye), ``reboot``,
``stall``.
"""

from __future__ import annotations

import contextlib
import errno
import heapq
import itertools
import json
import math
import os
import queue
import random
import selectors
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt

from bench.config import Faults
from bench.devices import wire
from bench.emulator.device import Eeprom, MeterDevice
from bench.emulator.physics import MeterPhysics, TruthHandles
from bench.emulator.profile import Profile
from bench.errors import ConfigError
from bench.transport import firmata as fm
from bench.transport.mqtt_link import QOS, Broker, new_client, topic

FLUSH_S = 10.0
"""At stop, how long meters may take to reconnect and send what they queued."""
RECONNECT_S = 1.0
"""After a lost connection, the wait before the next attempt (up to twice that, at
random, so meters that lost the broker together do not all knock at once)."""
OPENING_MAX = 25
"""Connections a fleet has opening at once (the rest wait their turn): a broker's accept
queue holds about 100 (mosquitto's), and a connect that overflows it waits seconds for
the SYN to be sent again, or is dropped at the keep-alive and knocks again: thousands
of meters connecting at once would never all get in."""
READING_TICK_S = 0.02
"""Readings fire on a grid this fine (at most this late, and at most a quarter of the
reading interval), so one wake of the fleet's thread publishes every reading due in
it: a wake per reading cost more CPU than the reading itself."""
KEEPALIVE_TICK_S = 1.0
"""How often every client's keep-alive is looked after (pings, a silent broker). Only
clients the broker has sent nothing for half a keep-alive are: paho's own check pings
every keep-alive even while it publishes and reads acknowledgements (the time of its
last write is not kept when a write empties its queue), 0.2 extra round trips per
reading at a 5 s keep-alive and 1 reading/s."""
STREAM_ROOM = 1 << 16


class _MeterClient(mqtt.Client):
    """paho's client with a TCP connect that does not block the fleet's thread.

    paho connects with a blocking ``socket.create_connection``; when a broker's accept
    queue overflows (thousands of meters connecting at once), a dropped SYN blocks it a
    second or more, and with it every meter of the fleet. Here the connect goes on in
    the kernel: paho's CONNECT waits in its queue until the socket is writable, a
    refused connect fails that write (a lost connection: the fleet retries), and a
    broker that never answers is dropped at the keep-alive. Plain TCP only: over TLS
    paho's own connect and handshake are kept. paho has no public hook for this, so
    this overrides a private method: pyproject.toml pins paho-mqtt to the versions
    tests/meters/test_mqtt_connect.py checks.
    """

    def _create_socket_connection(self) -> socket.socket:
        if self._ssl:
            return super()._create_socket_connection()
        family, kind, proto, _, address = socket.getaddrinfo(
            self._host, self._port, type=socket.SOCK_STREAM
        )[0]
        sock = socket.socket(family, kind, proto)
        sock.setblocking(False)
        err = sock.connect_ex(address)
        if err not in (0, errno.EINPROGRESS):
            sock.close()
            raise OSError(err, os.strerror(err))
        return sock


class MqttEmulatedMeter(TruthHandles):
    """One emulated meter on MQTT; truth handles as :class:`EmulatedMeter`'s, link
    handles once it is in a started :class:`MqttFleet`."""

    def __init__(
        self,
        meter_id: str,
        profile: Profile | None = None,
        *,
        power_w: float = 0.0,
        key: bytes = wire.DEFAULT_KEY,
        faults: Faults | None = None,
        seed: int | None = None,
        factory_front_end: bool = False,
    ) -> None:
        """``factory_front_end``: clip as the firmware's factory front end (see
        :class:`EmulatedMeter`)."""
        if not meter_id or len(meter_id) > 16 or set(meter_id) - wire.METER_ID_CHARS:
            raise ConfigError(f"meter id {meter_id!r} is invalid: 1–16 of A–Z a–z 0–9 - _ .")
        self.name = meter_id
        self.faults = faults or Faults()
        self.eeprom = Eeprom(meter_id=meter_id, key=key)
        self.physics = MeterPhysics(
            self.eeprom,
            self.faults,
            time.monotonic,
            profile=profile,
            power_w=power_w,
            seed=seed,
            factory_front_end=factory_front_end,
        )
        self.device = MeterDevice(self.eeprom, self.physics, faults=self.faults, seed=seed)
        self.lock = threading.RLock()
        self.client: mqtt.Client | None = None
        self.seq = 0
        self.published = 0
        self.dropped = 0
        self.stalled_until = 0.0
        self.plugged = False
        self.connected = False
        self._fleet: MqttFleet | None = None
        self._rng = random.Random(seed)
        # the fleet thread's bookkeeping: which heap entry is current, selector state
        self._reading_at = 0.0
        self._device_at = float("inf")
        self._connect_at = float("inf")
        self._replug_at = float("inf")
        self._writing = False
        self._heard_at = 0.0  # when the broker last sent it something
        self._goodbye: mqtt.MQTTMessageInfo | None = None

    @property
    def meter_id(self) -> str:
        """The id in its EEPROM."""
        return self.eeprom.meter_id

    def reading_payload(self) -> dict[str, Any]:
        """The JSON reading now (docs/mqtt.md)."""
        m = self.physics.measure()
        ee = self.eeprom
        self.seq += 1
        return {
            "seq": self.seq,
            "boot_count": ee.boot_count,
            "sent_unix_s": time.time(),
            "voltage_v": round(m.voltage_v, 2),
            "current_a": round(m.current_a, 3),
            "power_w": round(m.power_w, 1),
            "power_factor": round(m.power_factor, 3),
            "frequency_hz": m.frequency_hz,
            "energy_import_wh": ee.import_mwh / 1000,
            "energy_export_wh": ee.export_mwh / 1000,
            "relay_closed": ee.relay_closed,
        }

    def checkpoint_payload(self, now: float) -> dict[str, Any] | None:
        """A signed checkpoint, made as a SIGNED_READING request would make it."""
        out = self.device.receive(fm.sysex(wire.Cmd.SIGNED_READING), now)
        for msg in fm.FirmataParser().feed(out):
            if isinstance(msg, fm.Sysex) and msg.command == wire.Cmd.SIGNED_READING:
                from bench.attestation import meter_id_bytes32

                signed = wire.decode_signed_reading(msg.payload, meter_id_bytes32(self.meter_id))
                if signed is None:
                    return None
                return {
                    "seq": signed.seq,
                    "import_wh": signed.import_wh,
                    "export_wh": signed.export_wh,
                    "time_s": signed.time_s,
                    "r": signed.r.hex(),
                    "s": signed.s.hex(),
                    "v": signed.v,
                    "sent_unix_s": time.time(),
                }
        return None

    # -- link faults -----------------------------------------------------------------
    def reboot(self) -> None:
        """Reset the meter: boot count +1, readings' seq from 1, counters kept."""
        fleet = self._require_fleet()
        fleet._call(lambda: fleet._reboot(self))

    def unplug(self, down_s: float | None = None) -> None:
        """The meter vanishes: its connection drops without DISCONNECT (the last will
        fires); it comes back after ``down_s`` (or at :meth:`replug`)."""
        fleet = self._require_fleet()
        fleet._call(lambda: fleet._unplug(self, down_s))

    def replug(self) -> None:
        """The meter comes back: a new connection to its persistent session."""
        fleet = self._require_fleet()
        fleet._call(lambda: fleet._replug(self))

    def stall(self, seconds: float) -> None:
        """Publish nothing and ignore the host for ``seconds`` (its connection stays up)."""
        self.stalled_until = time.monotonic() + seconds

    def _require_fleet(self) -> MqttFleet:
        if self._fleet is None:
            raise ConfigError(f"emulated meter {self.meter_id} is not in an MqttFleet yet")
        return self._fleet


def checkpoint_signer(meter_id: str, checkpoint: dict[str, Any]) -> str:
    """The address that signed a checkpoint (:meth:`MqttEmulatedMeter.checkpoint_payload`)
    of ``meter_id``; ``KeyError`` or ``ValueError`` for a malformed or badly signed one."""
    from bench.attestation import SignedCounters, meter_id_bytes32

    return SignedCounters(
        meter_id_bytes32(meter_id),
        checkpoint["seq"],
        checkpoint["import_wh"],
        checkpoint["export_wh"],
        checkpoint["time_s"],
        checkpoint["v"],
        bytes.fromhex(checkpoint["r"]),
        bytes.fromhex(checkpoint["s"]),
    ).signer_address()


class MqttFleet:
    """Emulated meters publishing to one broker, served by one thread (a context manager)."""

    def __init__(
        self,
        meters: Iterable[MqttEmulatedMeter],
        broker: Broker,
        *,
        prefix: str = "gridbench",
        reading_interval_s: float = 1.0,
        checkpoint_every: int = 0,
        speed: float = 1.0,
        sim_clock: Callable[[], float] | None = None,
    ) -> None:
        self.broker = broker
        self.prefix = prefix
        self.reading_interval_s = reading_interval_s
        self.checkpoint_every = checkpoint_every
        t0 = time.monotonic()
        self.sim_clock = sim_clock or (lambda: speed * (time.monotonic() - t0))
        self.meters = {m.name: m for m in meters}
        for m in self.meters.values():
            m._fleet = self
        self._sel = selectors.DefaultSelector()
        self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        self._sel.register(self._wake_r, selectors.EVENT_READ, None)
        self._commands: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._heap: list[tuple[float, int, str, MqttEmulatedMeter, float]] = []
        self._reading_tick_s = min(READING_TICK_S, reading_interval_s / 4)
        self._tie = itertools.count()
        self._opening: set[MqttEmulatedMeter] = set()
        self._waiting: dict[MqttEmulatedMeter, None] = {}  # in arrival order
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._closing = False

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> MqttFleet:
        """Boot every meter and serve them (they connect within the first moments)."""
        now = time.monotonic()
        n = max(1, len(self.meters))
        for i, m in enumerate(self.meters.values()):
            m.physics.use_clock(self.sim_clock)
            m.device.boot(now)
            m.plugged = True
            self._arm(m, "connect", now)
            self._arm(m, "reading", now + self.reading_interval_s * i / n)
        self._thread = threading.Thread(target=self._run, name="mqtt-fleet", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Say goodbye (status offline) after what each meter queued, and disconnect."""
        thread, self._thread = self._thread, None
        if self._stopping.is_set():
            return
        self._stopping.set()
        if thread is not None:
            self._wake()
            thread.join(FLUSH_S + 5.0)
        for m in self.meters.values():
            m.plugged = m.connected = False
        self._sel.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> MqttFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- calls from other threads ----------------------------------------------------
    def _call(self, action: Callable[[], None]) -> None:
        """Run ``action`` on the fleet's thread (at once when called from it)."""
        if threading.current_thread() is self._thread:
            action()
            return
        self._commands.put(action)
        self._wake()

    def _wake(self) -> None:
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    # -- timers ----------------------------------------------------------------------
    def _arm(self, m: MqttEmulatedMeter, kind: str, at: float) -> None:
        setattr(m, f"_{kind}_at", at)  # only the newest entry of a kind is live
        wake = at
        if kind == "reading":  # on the grid: readings due together share one wake
            tick = self._reading_tick_s
            wake = math.ceil(at / tick) * tick
        heapq.heappush(self._heap, (wake, next(self._tie), kind, m, at))

    def _arm_device(self, m: MqttEmulatedMeter) -> None:
        """Wake for the meter's next streamed frame, if it streams."""
        due = m.device.next_due()
        if due != m._device_at and due < float("inf"):
            self._arm(m, "device", due)

    def _run_timers(self, now: float) -> None:
        heap = self._heap
        while heap and heap[0][0] <= now:
            _, _, kind, m, at = heapq.heappop(heap)
            if kind == "reading" and at == m._reading_at:
                self._arm(m, "reading", max(at + self.reading_interval_s, now))
                if not self._stopping.is_set():
                    self._read_out(m, now)
            elif kind == "device" and at == m._device_at:
                m._device_at = float("inf")
                self._stream(m, now)
            elif kind == "connect" and at == m._connect_at:
                m._connect_at = float("inf")
                if m.plugged:
                    self._connect(m)
            elif kind == "replug" and at == m._replug_at:
                self._replug(m)

    # -- the fleet's thread ----------------------------------------------------------
    def _run(self) -> None:
        misc_at = time.monotonic() + KEEPALIVE_TICK_S
        deadline = float("inf")
        while True:
            now = time.monotonic()
            if self._stopping.is_set() and deadline == float("inf"):
                deadline = now + FLUSH_S
            if deadline < float("inf") and self._goodbyes_done(now >= deadline):
                break
            wait = min(misc_at - now, (self._heap[0][0] - now) if self._heap else 1.0)
            if deadline < float("inf"):
                wait = min(wait, 0.02)
            for key, events in self._sel.select(max(0.0, wait)):
                m = key.data
                if m is None:
                    with contextlib.suppress(BlockingIOError):
                        self._wake_r.recv(4096)
                    continue
                if events & selectors.EVENT_READ:
                    self._read_socket(m)
                if events & selectors.EVENT_WRITE and m.client is not None:
                    m.client.loop_write()
                    self._flush(m)
            while True:
                try:
                    action = self._commands.get_nowait()
                except queue.Empty:
                    break
                action()
            now = time.monotonic()
            self._run_timers(now)
            if now >= misc_at:
                misc_at = now + KEEPALIVE_TICK_S
                quiet_s = self.broker.keepalive_s / 2
                for m in self.meters.values():
                    if now - m._heard_at < quiet_s:  # the broker answered lately
                        continue
                    if m.client is not None and m.client.socket() is not None:
                        m.client.loop_misc()
                        self._flush(m)
        self._close_all()

    def _read_socket(self, m: MqttEmulatedMeter) -> None:
        client = m.client
        if client is None:
            return
        m._heard_at = time.monotonic()
        client.loop_read()
        sock = client.socket()
        while sock is not None and getattr(sock, "pending", lambda: 0)():  # TLS: buffered
            client.loop_read()
            sock = client.socket()
        self._flush(m)

    def _flush(self, m: MqttEmulatedMeter) -> None:
        """Write what paho queued; watch for writability only while some is left."""
        client = m.client
        if client is None:
            return
        if client.want_write():
            client.loop_write()
        writing = client.want_write() and client.socket() is not None
        if writing != m._writing:
            sock = client.socket()
            if sock is not None:
                mask = selectors.EVENT_READ | (selectors.EVENT_WRITE if writing else 0)
                with contextlib.suppress(KeyError, ValueError):
                    self._sel.modify(sock, mask, m)
            m._writing = writing

    def _publish(
        self,
        m: MqttEmulatedMeter,
        leaf: str,
        payload: bytes | dict[str, Any],
        *,
        retain: bool = False,
    ) -> mqtt.MQTTMessageInfo | None:
        if m.client is None:
            return None
        data = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        info = m.client.publish(topic(self.prefix, m.name, leaf), data, qos=QOS, retain=retain)
        m.published += 1
        self._flush(m)
        return info

    def _read_out(self, m: MqttEmulatedMeter, now: float) -> None:
        """The periodic reading (and, every ``checkpoint_every``, a signed checkpoint)."""
        if not m.plugged or now < m.stalled_until:
            return
        with m.lock:
            reading = m.reading_payload()
            checkpoint = (
                m.checkpoint_payload(now)
                if self.checkpoint_every and reading["seq"] % self.checkpoint_every == 0
                else None
            )
        if m.faults.drop_rate and m._rng.random() < m.faults.drop_rate:
            m.dropped += 1
        else:
            self._publish(m, "reading", reading)
        if checkpoint is not None:
            self._publish(m, "checkpoint", checkpoint)

    def _stream(self, m: MqttEmulatedMeter, now: float) -> None:
        """Frames the device streams on its own (READINGs the host asked for)."""
        with m.lock:
            out = m.device.poll(now, STREAM_ROOM)
        if out and m.plugged and now >= m.stalled_until:
            self._publish(m, "tx", out)
        self._arm_device(m)

    # -- connections -----------------------------------------------------------------
    def _new_client(self, m: MqttEmulatedMeter) -> mqtt.Client:
        client_id = f"gridbench-meter-{self.prefix}-{m.name}"  # stable: its session persists
        client = new_client(self.broker, client_id, clean=False, cls=_MeterClient)
        client.will_set(
            topic(self.prefix, m.name, "status"),
            json.dumps({"state": "offline", "reason": "lost"}),
            qos=QOS,
            retain=True,
        )
        client.user_data_set(m)
        client.on_connect = self._on_connect
        client.on_disconnect = self._on_disconnect
        client.on_message = self._on_message
        client.on_socket_open = self._on_socket_open
        client.on_socket_close = self._on_socket_close
        return client

    def _connect(self, m: MqttEmulatedMeter) -> None:
        """Open the meter's connection now, or when its turn comes (:data:`OPENING_MAX`)."""
        if m in self._opening or m in self._waiting:
            return
        if len(self._opening) >= OPENING_MAX:
            self._waiting[m] = None
            return
        self._opening.add(m)
        try:  # the connect completes in the background
            if m.client is None:
                m.client = self._new_client(m)
                m.client.connect(self.broker.host, self.broker.port, self.broker.keepalive_s)
            else:
                m.client.reconnect()
        except OSError:
            self._opened(m)
            self._arm_reconnect(m)
            return
        self._flush(m)

    def _opened(self, m: MqttEmulatedMeter) -> None:
        """The meter's connect is over (accepted, refused or lost): the next one's turn."""
        if m not in self._opening:
            return
        self._opening.discard(m)
        while self._waiting and len(self._opening) < OPENING_MAX:
            nxt = next(iter(self._waiting))
            del self._waiting[nxt]
            if nxt.plugged and not nxt.connected:
                self._connect(nxt)

    def _on_socket_open(self, _c: mqtt.Client, m: MqttEmulatedMeter, sock: Any) -> None:
        m._writing = False
        self._sel.register(sock, selectors.EVENT_READ, m)

    def _on_socket_close(self, _c: mqtt.Client, m: MqttEmulatedMeter, sock: Any) -> None:
        with contextlib.suppress(KeyError, ValueError):
            self._sel.unregister(sock)
        m._writing = False

    def _on_connect(
        self, client: mqtt.Client, m: MqttEmulatedMeter, _f: Any, rc: Any, _p: Any
    ) -> None:
        self._opened(m)
        if rc.is_failure:
            return
        m.connected = True
        client.subscribe(topic(self.prefix, m.name, "rx"), qos=QOS)
        self._publish_online(m)

    def _on_disconnect(
        self, _c: mqtt.Client, m: MqttEmulatedMeter, _f: Any, _rc: Any, _p: Any
    ) -> None:
        m.connected = False
        self._opened(m)
        if m.plugged and not self._closing:
            self._arm_reconnect(m)

    def _arm_reconnect(self, m: MqttEmulatedMeter) -> None:
        self._arm(m, "connect", time.monotonic() + RECONNECT_S * (1 + m._rng.random()))

    def _publish_online(self, m: MqttEmulatedMeter) -> None:
        status = {"state": "online", "boot_count": m.eeprom.boot_count, "pid": os.getpid()}
        self._publish(m, "status", status, retain=True)

    def _on_message(self, _c: mqtt.Client, m: MqttEmulatedMeter, msg: mqtt.MQTTMessage) -> None:
        now = time.monotonic()
        if now < m.stalled_until:
            return
        with m.lock:
            out = m.device.receive(bytes(msg.payload), now)
        if out:
            self._publish(m, "tx", out)
        self._arm_device(m)

    # -- faults, on the fleet's thread -----------------------------------------------
    def _reboot(self, m: MqttEmulatedMeter) -> None:
        with m.lock:
            m.physics.advance()
            out = m.device.boot(time.monotonic())
            m.seq = 0
        self._publish(m, "tx", out)
        self._publish_online(m)
        self._arm_device(m)

    def _unplug(self, m: MqttEmulatedMeter, down_s: float | None) -> None:
        m.plugged = False
        m._connect_at = float("inf")
        sock = m.client.socket() if m.client is not None else None
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):  # paho sees the end at its next read
                sock.shutdown(socket.SHUT_RDWR)
        if down_s is not None:
            self._arm(m, "replug", time.monotonic() + down_s)

    def _replug(self, m: MqttEmulatedMeter) -> None:
        m._replug_at = float("inf")
        if m.plugged or self._stopping.is_set():
            return
        m.plugged = True
        self._connect(m)

    # -- stopping --------------------------------------------------------------------
    def _goodbyes_done(self, give_up: bool) -> bool:
        """Send each plugged meter's goodbye once it is connected; True when every one
        is out (QoS 1 keeps order: so is all it queued before) or ``give_up``."""
        done = True
        for m in self.meters.values():
            if not m.plugged or m.client is None:
                continue
            if m._goodbye is None and m.connected:
                goodbye = {"state": "offline", "reason": "stopped"}
                m._goodbye = self._publish(m, "status", goodbye, retain=True)
            try:
                out = m._goodbye is not None and m._goodbye.is_published()
            except (RuntimeError, ValueError):  # its connection dropped: say it again
                m._goodbye, out = None, False
            done = done and out
        return done or give_up

    def _close_all(self) -> None:
        """DISCONNECT every client (the broker keeps their sessions), then close."""
        self._closing = True
        for m in self.meters.values():
            if m.client is not None and m.client.socket() is not None:
                m.client.disconnect()
                self._flush(m)
        for m in self.meters.values():
            sock = m.client.socket() if m.client is not None else None
            if sock is not None:  # its DISCONNECT did not go out
                with contextlib.suppress(OSError):
                    sock.close()
