"""Emulated gridmeters that talk to an MQTT broker instead of a serial line.

Each meter is the same :class:`MeterDevice` and :class:`MeterPhysics` as on a pty; its
host bytes arrive on ``…/rx`` and its replies leave on ``…/tx`` (docs/mqtt.md). Besides
answering, each meter publishes a JSON reading every ``reading_interval_s`` and, every
``checkpoint_every`` readings, a signed checkpoint (the meter-signed counters of
bench/attestation.py). Each meter has its own client and session (its last will marks it
offline when the broker loses it); one pacing thread drives all of a fleet's meters.
Faults: the configured output faults on its frames, ``drop_rate`` also on readings, and
:meth:`MqttFleet.unplug` (the connection drops without a goodbye), ``reboot``, ``stall``.
"""

from __future__ import annotations

import contextlib
import json
import os
import random
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import paho.mqtt.client as mqtt

from bench.config import Faults
from bench.devices import wire
from bench.emulator.device import Eeprom, MeterDevice
from bench.emulator.physics import MeterPhysics
from bench.emulator.profile import Profile
from bench.errors import ConfigError
from bench.transport import firmata as fm
from bench.transport.mqtt_link import QOS, Broker, new_client, topic

TICK_S = 0.01
FLUSH_S = 10.0
"""At stop, how long meters may take to reconnect and send what they queued."""


class MqttEmulatedMeter:
    """One emulated meter on MQTT; truth handles as :class:`EmulatedMeter`'s."""

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
        self._rng = random.Random(seed)

    @property
    def meter_id(self) -> str:
        """The id in its EEPROM."""
        return self.eeprom.meter_id

    def set_power(self, power_w: float) -> None:
        """Constant signed power from now on."""
        with self.lock:
            self.physics.set_power(power_w)

    def set_profile(self, profile: Profile | None) -> None:
        """Follow ``profile`` from now on."""
        with self.lock:
            self.physics.set_profile(profile)

    @property
    def power_w(self) -> float:
        """The true power now."""
        with self.lock:
            return self.physics.true_power_w()

    @property
    def relay_closed(self) -> bool:
        """The relay's true state."""
        return self.eeprom.relay_closed

    def energy_wh(self) -> tuple[float, float]:
        """True (import, export) in Wh."""
        with self.lock:
            self.physics.advance()
            return self.eeprom.import_mwh / 1000, self.eeprom.export_mwh / 1000

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


class MqttFleet:
    """Emulated meters publishing to one broker (a context manager)."""

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
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._next: dict[str, float] = {}

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> MqttFleet:
        """Connect every meter, then start pacing."""
        for i, m in enumerate(self.meters.values()):
            m.physics.use_clock(self.sim_clock)
            m.device.boot(time.monotonic())
            self._connect(m)
            self._next[m.name] = time.monotonic() + self.reading_interval_s * (
                i / max(1, len(self.meters))
            )
        self._thread = threading.Thread(target=self._run, name="mqtt-fleet", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Say goodbye (status offline) after what each meter queued, and disconnect."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
        deadline = time.monotonic() + FLUSH_S
        goodbyes = []
        for m in self.meters.values():
            if m.client is not None and m.plugged:
                while not m.client.is_connected() and time.monotonic() < deadline:
                    time.sleep(0.02)  # reconnecting: what it queued must go out first
                goodbye = {"state": "offline", "reason": "stopped"}
                goodbyes.append((m, self._publish(m, "status", goodbye, retain=True)))
        for m, info in goodbyes:
            if info is not None:  # QoS 1 keeps order: the goodbye is out, so is all before it
                with contextlib.suppress(RuntimeError, ValueError):
                    info.wait_for_publish(max(0.0, deadline - time.monotonic()))
            assert m.client is not None
            m.client.disconnect()
            m.client.loop_stop()
        for m in self.meters.values():
            m.plugged = False

    def __enter__(self) -> MqttFleet:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------
    def unplug(self, meter_id: str) -> None:
        """The meter vanishes: its connection drops without DISCONNECT (last will fires)."""
        m = self.meters[meter_id]
        with m.lock:
            m.plugged = False
            client = m.client
        if client is None:
            return
        client.loop_stop()
        sock = client.socket()
        if isinstance(sock, socket.socket):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
                sock.close()

    def replug(self, meter_id: str) -> None:
        """The meter comes back: a new connection to its persistent session."""
        self._connect(self.meters[meter_id])

    def reboot(self, meter_id: str) -> None:
        """Reset the meter: boot count +1, readings' seq from 1, counters kept."""
        m = self.meters[meter_id]
        with m.lock:
            m.physics.advance()
            out = m.device.boot(time.monotonic())
            m.seq = 0
        self._publish(m, "tx", out)
        self._publish_online(m)

    def stall(self, meter_id: str, seconds: float) -> None:
        """Publish nothing and ignore the host for ``seconds``."""
        self.meters[meter_id].stalled_until = time.monotonic() + seconds

    # -- internals -------------------------------------------------------------------
    def _connect(self, m: MqttEmulatedMeter) -> None:
        client_id = f"gridbench-meter-{self.prefix}-{m.name}"  # stable: its session persists
        client = new_client(self.broker, client_id, clean=False)
        client.will_set(
            topic(self.prefix, m.name, "status"),
            json.dumps({"state": "offline", "reason": "lost"}),
            qos=QOS,
            retain=True,
        )
        client.user_data_set(m)
        client.on_connect = self._on_connect
        client.on_message = self._on_message
        m.client = client
        client.connect_async(self.broker.host, self.broker.port, self.broker.keepalive_s)
        client.loop_start()
        m.plugged = True

    def _on_connect(
        self, client: mqtt.Client, m: MqttEmulatedMeter, _f: Any, rc: Any, _p: Any
    ) -> None:
        if rc.is_failure:
            return
        client.subscribe(topic(self.prefix, m.name, "rx"), qos=QOS)
        self._publish_online(m)

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
        return info

    def _run(self) -> None:
        while not self._stop.wait(TICK_S):
            now = time.monotonic()
            for m in self.meters.values():
                if not m.plugged or now < m.stalled_until:
                    continue
                with m.lock:
                    out = m.device.poll(now, 1 << 16)
                if out:
                    self._publish(m, "tx", out)
                if now < self._next[m.name]:
                    continue
                self._next[m.name] = max(self._next[m.name] + self.reading_interval_s, now)
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
