"""The meter protocol over an MQTT broker (topics and payloads: docs/mqtt.md).

Per meter ``{prefix}/meters/{id}/``: ``rx`` carries the host's Firmata bytes to the
meter, ``tx`` the meter's bytes back (both QoS 1, so commands, their HMAC tags and the
replies are exactly the serial protocol's), ``status`` is retained JSON
(``{"state": "online", ...}``; the meter's last will sets ``offline`` the moment the
broker loses it), ``reading`` and ``checkpoint`` are JSON the meter publishes on its
own (QoS 1). The bench holds one persistent session (:class:`MqttHub`, clean session
off, fixed client id), so what meters publish while the bench is away is queued by the
broker and delivered when it returns.
"""

from __future__ import annotations

import contextlib
import json
import queue
import random
import select
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import paho.mqtt.client as mqtt

from bench.errors import ConfigError, TransportError
from bench.transport.firmata import FirmataParser, Message
from bench.transport.link import LinkStats

QOS = 1
MISC_TICK_S = 1.0
"""How often the hub looks after its keep-alive."""
RECONNECT_S = 1.0
"""After a lost connection the hub tries again in 1-2 s (paho's own loop: 1 s, then up
to the ``reconnect_delay_set`` maximum)."""
DRAIN_MAX = 1000
"""Packets the hub reads per wake at most before it writes its acknowledgements."""
STOP_TIMEOUT_S = 5.0
TOPICS = ("tx", "status", "reading", "checkpoint")
"""What the bench subscribes to, per meter."""


@dataclass(frozen=True)
class Broker:
    """Where and how to connect."""

    host: str
    port: int
    tls: bool = False
    username: str = ""
    password: str = field(default="", repr=False)
    ca_file: Path | None = None
    keepalive_s: int = 5

    @classmethod
    def from_url(cls, url: str, **kw: Any) -> Broker:
        """``mqtt://host:port`` or ``mqtts://host:port``."""
        parsed = urlparse(url)
        if parsed.scheme not in ("mqtt", "mqtts") or not parsed.hostname:
            raise ConfigError(f"MQTT broker {url!r}: write mqtt://host:port or mqtts://host:port")
        tls = parsed.scheme == "mqtts"
        return cls(parsed.hostname, parsed.port or (8883 if tls else 1883), tls, **kw)

    @property
    def url(self) -> str:
        """The broker's URL."""
        return f"{'mqtts' if self.tls else 'mqtt'}://{self.host}:{self.port}"


def topic(prefix: str, meter_id: str, leaf: str) -> str:
    """``{prefix}/meters/{meter_id}/{leaf}``."""
    return f"{prefix}/meters/{meter_id}/{leaf}"


def _cork(sock: Any, on: bool) -> bool:
    """Hold (``on``) or push what is written to a TCP socket as full segments
    (TCP_CORK); False where the socket has no such option."""
    if sock is None or not hasattr(socket, "TCP_CORK"):
        return False
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, int(on))
    except (OSError, ValueError):
        return False
    return True


def new_client(
    broker: Broker, client_id: str, *, clean: bool, cls: type[mqtt.Client] = mqtt.Client
) -> mqtt.Client:
    """A paho client (``cls``) for ``broker`` (MQTT 3.1.1; clean session as asked), not
    connected."""
    client = cls(
        mqtt.CallbackAPIVersion.VERSION2,
        client_id=client_id,
        clean_session=clean,
        protocol=mqtt.MQTTv311,
    )
    if broker.username:
        client.username_pw_set(broker.username, broker.password or None)
    if broker.tls:
        client.tls_set(ca_certs=str(broker.ca_file) if broker.ca_file else None)
    client.max_inflight_messages_set(100)
    client.max_queued_messages_set(0)
    client.reconnect_delay_set(1, 2)
    return client


class MqttHub:
    """The bench's connection to the broker, shared by every MQTT meter it reads."""

    def __init__(
        self, broker: Broker, prefix: str = "gridbench", client_id: str = "gridbench-bench"
    ) -> None:
        self.broker = broker
        self.prefix = prefix
        self.client = new_client(broker, client_id, clean=False)
        self.client.on_connect = self._on_connect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_socket_register_write = self._on_register_write
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._wake_r, self._wake_w = socket.socketpair()
        self._messages = 0
        self.reads = 0
        """Wakes that found the socket readable (each reads every message queued)."""
        self._lock = threading.Lock()
        self._tx: dict[str, queue.SimpleQueue[bytes]] = {}
        self.status: dict[str, dict[str, Any]] = {}
        self._status_changed = threading.Condition(self._lock)
        self.listeners: list[Callable[[str, str, dict[str, Any]], None]] = []
        """Called as (meter_id, "reading" | "checkpoint", payload) in the hub's thread."""
        self.connected = threading.Event()
        self._answered = threading.Event()
        self._refused = ""

    def start(self) -> MqttHub:
        """Connect (persistent session) and serve in the hub's thread."""
        if self._wake_r.fileno() < 0:  # started again after a stop
            self._wake_r, self._wake_w = socket.socketpair()
        self._wake_r.setblocking(False)
        self._wake_w.setblocking(False)
        try:
            self.client.connect(self.broker.host, self.broker.port, self.broker.keepalive_s)
        except OSError as exc:
            raise TransportError(
                f"cannot reach the MQTT broker {self.broker.url}: {exc}; start it, or leave "
                "[mqtt] url empty so the bench starts its own mosquitto"
            ) from exc
        self._stopping.clear()
        self._thread = threading.Thread(target=self._serve, name="mqtt-hub", daemon=True)
        self._thread.start()
        if not self._answered.wait(10.0) or not self.connected.is_set():
            self.stop()
            why = self._refused or "no answer within 10 s"
            raise TransportError(
                f"the MQTT broker {self.broker.url} did not accept the bench ({why}); check "
                "[mqtt] username, password_file and ca_file"
            )
        return self

    def stop(self) -> None:
        """Disconnect (the session stays on the broker) and stop the hub's thread."""
        self._stopping.set()
        self.client.disconnect()
        self._wake()
        thread, self._thread = self._thread, None
        if thread is not None:
            thread.join(STOP_TIMEOUT_S)
        sock = self.client.socket()
        if sock is not None:  # the DISCONNECT did not go out in time
            with contextlib.suppress(OSError):
                sock.close()
        self._wake_r.close()
        self._wake_w.close()

    def __enter__(self) -> MqttHub:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- the hub's thread: paho's external loop ----------------------------------------
    def _wake(self) -> None:
        """Break the hub's wait (another thread queued a packet, or stop)."""
        with contextlib.suppress(BlockingIOError, OSError):
            self._wake_w.send(b"x")

    def _on_register_write(self, _c: mqtt.Client, _u: Any, _s: Any) -> None:
        if threading.current_thread() is not self._thread:
            self._wake()

    def _serve(self) -> None:
        """Read every packet the socket holds per wake, then write every reply (the
        PUBACKs) corked into as few segments as the kernel can; reconnect after a
        lost connection, as paho's own loop would."""
        client = self.client
        misc_at = time.monotonic() + MISC_TICK_S
        reconnect_at = 0.0
        while True:
            now = time.monotonic()
            sock = client.socket()
            if sock is None:
                if self._stopping.is_set():
                    return
                if now >= reconnect_at:
                    reconnect_at = now + RECONNECT_S * (1 + random.random())
                    with contextlib.suppress(OSError):
                        client.reconnect()
                    continue
                self._wake_r_wait(reconnect_at - now)
                continue
            wants = [sock] if client.want_write() else []
            try:
                readable, writable, _ = select.select(
                    [sock, self._wake_r], wants, [], max(0.0, misc_at - now)
                )
            except (OSError, ValueError):  # closed under us: paho sees it at its next call
                readable, writable = [sock], []
            if self._wake_r in readable:
                with contextlib.suppress(BlockingIOError, OSError):
                    self._wake_r.recv(4096)
            if sock in readable:
                self.reads += 1
                self._drain(sock)
            if client.socket() is not None and (writable or client.want_write()):
                self._write_corked()
            now = time.monotonic()
            if now >= misc_at:
                misc_at = now + MISC_TICK_S
                client.loop_misc()

    def _wake_r_wait(self, timeout_s: float) -> None:
        readable, _, _ = select.select([self._wake_r], [], [], max(0.0, timeout_s))
        if readable:
            with contextlib.suppress(BlockingIOError, OSError):
                self._wake_r.recv(4096)

    def _drain(self, sock: Any) -> None:
        """``loop_read`` while it keeps finding messages (paho reads one packet a call);
        a packet that is not a message ends the burst: the next wait wakes at once
        for what is left."""
        client = self.client
        for _ in range(DRAIN_MAX):
            before = self._messages
            if client.loop_read() != mqtt.MQTT_ERR_SUCCESS or client.socket() is not sock:
                return
            pending = getattr(sock, "pending", None)  # TLS: bytes decrypted, unread
            if self._messages == before and not (pending and pending()):
                return

    def _write_corked(self) -> None:
        sock = self.client.socket()
        corked = _cork(sock, True)
        try:
            self.client.loop_write()
        finally:
            if corked:
                _cork(self.client.socket() or sock, False)

    def _on_connect(self, client: mqtt.Client, _u: Any, _f: Any, rc: Any, _p: Any) -> None:
        if rc.is_failure:
            self._refused = str(rc)
            self._answered.set()
            return
        client.subscribe([(f"{self.prefix}/meters/+/{leaf}", QOS) for leaf in TOPICS])

    def _on_subscribe(self, _c: mqtt.Client, _u: Any, _mid: int, codes: Any, _p: Any) -> None:
        """The broker's SUBACK: only now can no meter's message be missed (started)."""
        refused = [str(code) for code in codes if code.is_failure]
        if refused:
            self._refused = f"subscription refused: {', '.join(refused)}"
        else:
            self.connected.set()
        self._answered.set()

    @property
    def messages(self) -> int:
        """Messages received so far."""
        return self._messages

    def _on_message(self, _c: mqtt.Client, _u: Any, msg: mqtt.MQTTMessage) -> None:
        self._messages += 1
        parts = msg.topic.split("/")
        if len(parts) != 4 or parts[1] != "meters":
            return
        meter_id, leaf = parts[2], parts[3]
        if leaf == "tx":
            self._tx_queue(meter_id).put(bytes(msg.payload))
            return
        try:
            payload = json.loads(msg.payload) if msg.payload else {}
        except ValueError:
            return
        if leaf == "status":
            with self._lock:
                self.status[meter_id] = payload
                self._status_changed.notify_all()
            return
        for listener in list(self.listeners):
            listener(meter_id, leaf, payload)

    def _tx_queue(self, meter_id: str) -> queue.SimpleQueue[bytes]:
        with self._lock:
            return self._tx.setdefault(meter_id, queue.SimpleQueue())

    def online(self, meter_id: str) -> bool:
        """The meter's retained status says online."""
        with self._lock:
            return self.status.get(meter_id, {}).get("state") == "online"

    def wait_status(self, meter_id: str, state: str, timeout_s: float) -> bool:
        """Wait until the meter's status is ``state``."""
        deadline = time.monotonic() + timeout_s
        with self._lock:
            while self.status.get(meter_id, {}).get("state") != state:
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._status_changed.wait(left)
            return True

    def link(self, meter_id: str) -> MqttLink:
        """A :class:`FirmataLink` to one meter through the broker."""
        return MqttLink(self, meter_id)

    def send(self, meter_id: str, data: bytes) -> None:
        """Publish host bytes to the meter (QoS 1: queued across a broker outage)."""
        info = self.client.publish(topic(self.prefix, meter_id, "rx"), data, qos=QOS)
        if info.rc not in (mqtt.MQTT_ERR_SUCCESS, mqtt.MQTT_ERR_NO_CONN):
            raise TransportError(
                f"publishing to meter {meter_id} failed: {mqtt.error_string(info.rc)}"
            )


class MqttLink:
    """The meter protocol's byte stream to one meter, carried by :class:`MqttHub`."""

    def __init__(self, hub: MqttHub, meter_id: str) -> None:
        self.hub = hub
        self.meter_id = meter_id
        self.url = f"{hub.broker.url}/{topic(hub.prefix, meter_id, '')}"
        self._parser = FirmataParser()
        self._queue = hub._tx_queue(meter_id)
        self._bytes_in = 0
        self._closed = False

    def send(self, data: bytes) -> None:
        """Publish the bytes; TransportError while the meter is offline."""
        if self._closed:
            raise TransportError(f"the MQTT link to {self.meter_id} is closed")
        if self.hub.status.get(self.meter_id, {}).get("state") == "offline":
            raise TransportError(
                f"meter {self.meter_id} is offline on {self.hub.broker.url} (its last will); "
                "the poller reconnects when it is back"
            )
        self.hub.send(self.meter_id, data)

    def receive(self, timeout_s: float) -> list[Message]:
        """Messages that arrived within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        out: list[Message] = []
        while not out:
            left = deadline - time.monotonic()
            try:
                data = (
                    self._queue.get(timeout=max(0.0, left))
                    if left > 0
                    else self._queue.get_nowait()
                )
            except queue.Empty:
                return out
            self._bytes_in += len(data)
            out += self._parser.feed(data)
            while True:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                self._bytes_in += len(more)
                out += self._parser.feed(more)
        return out

    def stats(self) -> LinkStats:
        """Byte and message counters."""
        p = self._parser
        return LinkStats(self._bytes_in, p.messages, p.malformed, p.skipped_bytes)

    def close(self) -> None:
        """Stop using the link (the hub stays); idempotent."""
        self._closed = True
