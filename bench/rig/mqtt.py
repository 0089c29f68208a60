"""The ``mqtt`` kind: gridmeters reached through an MQTT broker (docs/mqtt.md).

The rig attaches to ``[mqtt] url`` or starts its own mosquitto on a free loopback port,
holds the bench's one persistent session (:class:`MqttHub`), and, with ``[mqtt]
emulate``, runs the configured meters in an :class:`MqttFleet` on the scenario's clock.
Drivers are :class:`FirmataMeter` over an :class:`MqttLink`: the same commands, HMAC
authentication and signed readings as on a serial line.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence

from bench.config import BenchConfig, MeterConfig
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.protocol import Meter
from bench.emulator.mqtt_fleet import MqttEmulatedMeter, MqttFleet
from bench.emulator.profile import Profile
from bench.errors import ConfigError, TransportError
from bench.rig.emulated import TruthLoad
from bench.rig.kinds import MeterSite, SimTime
from bench.transport.link import handshake_or_close
from bench.transport.mosquitto import Mosquitto
from bench.transport.mqtt_link import Broker, MqttHub

ONLINE_TIMEOUT_S = 15.0

_HUBS: dict[str, MqttHub] = {}
_HUBS_LOCK = threading.Lock()


@contextlib.contextmanager
def registered_hub(hub: MqttHub) -> Iterator[MqttHub]:
    """Make ``hub`` the one :func:`open_mqtt` finds for its broker and topic prefix."""
    key = f"{hub.broker.url}/{hub.prefix}"
    with _HUBS_LOCK:
        if key in _HUBS:
            raise ConfigError(f"two rigs share the MQTT topics {key}; give each its topic_prefix")
        _HUBS[key] = hub
    try:
        yield hub
    finally:
        with _HUBS_LOCK:
            _HUBS.pop(key, None)


def _password(bench: BenchConfig) -> str:
    path = bench.mqtt.password_file
    return path.read_text().strip() if path is not None else ""


def broker_of(bench: BenchConfig, url: str) -> Broker:
    """The broker at ``url`` with the config's credentials."""
    cfg = bench.mqtt
    return Broker.from_url(
        url,
        username=cfg.username,
        password=_password(bench),
        ca_file=cfg.ca_file,
        keepalive_s=cfg.keepalive_s,
    )


def start_mqtt(
    stack: contextlib.ExitStack, meters: Sequence[MeterConfig], bench: BenchConfig, time: SimTime
) -> dict[str, MeterSite]:
    """Broker (attached or our own), the bench's session, and the emulated meters."""
    cfg = bench.mqtt
    if cfg.url:
        broker = broker_of(bench, cfg.url)
    else:  # our own broker admits the configured user, if any
        password = _password(bench)
        users = {cfg.username: password} if cfg.username else None
        broker = broker_of(bench, stack.enter_context(Mosquitto(users=users)).url)
    hub = MqttHub(broker, cfg.topic_prefix, client_id=f"gridbench-bench-{cfg.topic_prefix}")
    stack.enter_context(hub)
    stack.enter_context(registered_hub(hub))
    loads: dict[str, TruthLoad] = {}
    if cfg.emulate:
        emulated = []
        for i, m in enumerate(meters):
            em = MqttEmulatedMeter(
                m.meter_id,
                Profile.parse(m.profile) if m.profile else None,
                power_w=m.power_w,
                key=m.key,
                faults=m.faults,
                seed=bench.seed + i,
            )
            emulated.append(em)
            loads[m.meter_id] = TruthLoad(em, m)
        stack.enter_context(
            MqttFleet(
                emulated,
                broker,
                prefix=cfg.topic_prefix,
                reading_interval_s=bench.reading_interval_s,
                sim_clock=time.now_s,
            )
        )
    for m in meters:
        if not hub.wait_status(m.meter_id, "online", ONLINE_TIMEOUT_S):
            raise TransportError(
                f"MQTT meter {m.meter_id} is not online on {broker.url} (topic prefix "
                f"{cfg.topic_prefix!r}) after {ONLINE_TIMEOUT_S:.0f} s; start it (gridbench "
                "emulate run --mqtt URL) or set [mqtt] emulate = true"
            )
    return {m.meter_id: MeterSite(hub.link(m.meter_id).url, loads.get(m.meter_id)) for m in meters}


def open_mqtt(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    """The meter protocol through the rig's hub."""
    with _HUBS_LOCK:
        hub = next((h for k, h in _HUBS.items() if site.url.startswith(k + "/")), None)
    if hub is None:
        raise ConfigError(f"MQTT meter {meter.meter_id!r} was not started by a rig")
    link = hub.link(meter.meter_id)
    return handshake_or_close(link, FirmataMeter(link, key=meter.key, timeout_s=1.0))
