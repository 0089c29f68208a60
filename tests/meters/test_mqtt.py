"""Meters over a real mosquitto: checkpoints survive broker and bench restarts, the last
will marks a vanished meter offline, the rig runs mqtt meters from a config."""

from __future__ import annotations

import json
import queue
import threading
import time
from typing import Any

import pytest

from bench.config import parse_bench_config
from bench.devices.firmata_meter import FirmataMeter
from bench.emulator.mqtt_fleet import MqttEmulatedMeter, MqttFleet, checkpoint_signer
from bench.errors import ToolMissingError, TransportError
from bench.rig import Rig
from bench.transport import mosquitto
from bench.transport.link import handshake_or_close
from bench.transport.mosquitto import Mosquitto
from bench.transport.mqtt_link import Broker, MqttHub, new_client


def _wait(condition: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return bool(condition())


def _collector(hub: MqttHub, into: dict[str, list[dict[str, Any]]]) -> None:
    def listen(meter_id: str, leaf: str, payload: dict[str, Any]) -> None:
        if leaf == "checkpoint":
            into.setdefault(meter_id, []).append(payload)

    hub.listeners.append(listen)


def test_no_checkpoint_is_lost_across_broker_restarts_and_a_bench_restart(
    broker: Mosquitto,
) -> None:
    address = Broker.from_url(broker.url)
    got: dict[str, list[dict[str, Any]]] = {}
    meters = [MqttEmulatedMeter(f"cp-{i}", power_w=3600.0 * (i + 1)) for i in range(3)]
    hub = MqttHub(address, client_id="bench-under-test")
    _collector(hub, got)
    with hub, MqttFleet(meters, address, reading_interval_s=0.05, checkpoint_every=2) as fleet:
        assert _wait(lambda: all(len(got.get(m.name, [])) >= 3 for m in meters), 10.0)
        broker.restart(down_s=0.5)  # meters keep signing meanwhile: paho queues QoS 1
        signed_while_down = {m.name: m.eeprom.signed_seq for m in meters}
        assert _wait(lambda: all(len(got.get(m.name, [])) >= 8 for m in meters), 15.0)
        hub.stop()  # the bench goes away; its session stays on the broker
        time.sleep(0.3)
        broker.restart(down_s=0.3)  # what is queued for the bench must survive on disk
        time.sleep(0.3)
        away = {m.name: m.eeprom.signed_seq for m in meters}
        got_before_return = {m: len(c) for m, c in got.items()}
        back = MqttHub(address, client_id="bench-under-test")
        _collector(back, got)
        with back:
            # everything signed until the bench returned arrives, queued on disk or by the
            # meters (they reconnect after the restart, which takes them up to 2 s)
            assert _wait(
                lambda: all({c["seq"] for c in got[m]} >= set(range(1, away[m] + 1)) for m in away),
                20.0,
            ), {m: sorted(set(range(1, away[m] + 1)) - {c["seq"] for c in got[m]}) for m in got}
            fleet.stop()  # after each meter's queue is out
            last = {m.name: m.eeprom.signed_seq for m in meters}
            assert _wait(
                lambda: all({c["seq"] for c in got[m]} >= set(range(1, last[m] + 1)) for m in last),
                15.0,
            ), {m: sorted(set(range(1, last[m] + 1)) - {c["seq"] for c in got[m]}) for m in got}
    for m in meters:
        seqs = sorted({c["seq"] for c in got[m.name]})
        assert seqs == list(range(1, last[m.name] + 1))  # none lost, none invented
        assert last[m.name] > away[m.name] > signed_while_down[m.name] > 1
        signers = {checkpoint_signer(m.name, c) for c in got[m.name]}
        assert len(signers) == 1  # every checkpoint is the meter's own signature
        energy = [c["import_wh"] for c in sorted(got[m.name], key=lambda c: c["seq"])]
        assert energy == sorted(energy) and energy[-1] > 0
    assert any(len(got[m]) > n for m, n in got_before_return.items())  # queued for the bench


def test_the_last_will_marks_a_vanished_meter_offline_at_once(broker: Mosquitto) -> None:
    address = Broker.from_url(broker.url)
    meter = MqttEmulatedMeter("lw-1", power_w=500.0)
    with MqttHub(address) as hub, MqttFleet([meter], address, reading_interval_s=0.1) as fleet:
        assert hub.wait_status("lw-1", "online", 10.0)
        link = hub.link("lw-1")
        driver = handshake_or_close(link, FirmataMeter(link, timeout_s=2.0))
        assert driver.read().power_w == pytest.approx(500.0)
        t0 = time.monotonic()
        fleet.meters["lw-1"].unplug()
        assert hub.wait_status("lw-1", "offline", 5.0)
        lag_s = time.monotonic() - t0
        assert lag_s < 5.0  # the broker saw the socket close: no keep-alive wait
        assert hub.status["lw-1"]["reason"] == "lost"
        with pytest.raises(TransportError, match="offline"):
            driver.read()
        fleet.meters["lw-1"].replug()
        assert hub.wait_status("lw-1", "online", 10.0)
        assert driver.read().power_w == pytest.approx(500.0)


def test_a_stopped_meter_says_goodbye(broker: Mosquitto) -> None:
    address = Broker.from_url(broker.url)
    with MqttHub(address) as hub:
        with MqttFleet([MqttEmulatedMeter("bye-1")], address):
            assert hub.wait_status("bye-1", "online", 10.0)
        assert hub.wait_status("bye-1", "offline", 5.0)
        assert hub.status["bye-1"]["reason"] == "stopped"


def test_the_rig_runs_mqtt_meters_from_a_config() -> None:
    try:
        mosquitto.mosquitto_path()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    bench = parse_bench_config(
        {
            "bench": {"reading_interval_s": 0.05},
            "mqtt": {"topic_prefix": "rigtest"},
            "meters": [
                {"id": "mq-1", "kind": "mqtt", "power_w": 1200.0},
                {"id": "mq-2", "kind": "mqtt", "power_w": -800.0, "key": "11" * 32},
            ],
        }
    )
    with Rig(bench) as rig:
        assert rig.url("mq-1").startswith("mqtt://127.0.0.1:")
        out: queue.Queue[Any] = queue.Queue()
        with rig.poller("mq-2", out) as poller:
            poller.set_relay(False).result(timeout=10.0)
            load = rig.load_control("mq-2")
            assert load is not None and load.true_power_w() == 0.0
            poller.set_relay(True).result(timeout=10.0)
        readings = []
        while not out.empty():
            item = out.get()
            if hasattr(item, "power_w"):
                readings.append(item)
        assert readings and readings[-1].meter_id == "mq-2"
        with rig.opener("mq-1")() as driver:  # type: ignore[attr-defined]
            assert driver.read().power_w == pytest.approx(1200.0)


def test_a_missing_mosquitto_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mosquitto.shutil, "which", lambda *a, **k: None)
    with pytest.raises(ToolMissingError, match="apt-get install mosquitto"):
        Mosquitto()


def test_reboot_stall_and_unplug_over_the_broker(broker: Mosquitto) -> None:
    """The link faults of ``emulate run --mqtt``, as the bench sees them: a reboot is a new
    boot count and readings from seq 1; a stall is silence with the meter online; an
    unplug is its last will, then online again by itself after ``down_s``."""
    address = Broker.from_url(broker.url)
    readings: list[tuple[float, dict[str, Any]]] = []
    meter = MqttEmulatedMeter("lf-1", power_w=100.0)
    hub = MqttHub(address, prefix="lf")
    hub.listeners.append(
        lambda mid, leaf, p: readings.append((time.monotonic(), p)) if leaf == "reading" else None
    )
    with hub, MqttFleet([meter], address, prefix="lf", reading_interval_s=0.05):
        assert hub.wait_status("lf-1", "online", 10.0)
        assert _wait(lambda: len(readings) >= 5, 10.0)
        boot = hub.status["lf-1"]["boot_count"]

        meter.reboot()
        assert _wait(lambda: hub.status["lf-1"].get("boot_count") == boot + 1, 10.0)
        assert _wait(lambda: readings[-1][1]["boot_count"] == boot + 1, 10.0)
        after = [p["seq"] for _, p in readings if p["boot_count"] == boot + 1]
        assert after[0] == 1 and after == list(range(1, len(after) + 1))

        n = len(readings)
        meter.stall(1.0)
        t_stall = time.time()  # the meter stamps each reading as it makes it
        time.sleep(1.0)
        assert hub.online("lf-1")  # a stalled meter is still connected
        assert _wait(lambda: len(readings) > n + 3, 10.0)
        during = [p for _, p in readings[n:] if t_stall < p["sent_unix_s"] < t_stall + 0.9]
        assert during == []
        meter.unplug(down_s=1.0)
        assert hub.wait_status("lf-1", "offline", 5.0)
        assert hub.status["lf-1"]["reason"] == "lost"
        assert hub.wait_status("lf-1", "online", 10.0)  # back by itself
        n = len(readings)
        assert _wait(lambda: len(readings) > n + 3, 10.0)
    seqs = [p["seq"] for _, p in readings if p["boot_count"] == boot + 1]
    assert seqs == list(range(1, len(seqs) + 1))  # stalls and unplugs lose no seq


def test_the_hub_reads_every_queued_message_per_wake_and_acknowledges_each(
    broker: Mosquitto,
) -> None:
    """While the hub's thread is held, 200 readings queue on its socket; released, it
    reads them in a few wakes (paho's own loop took one wake per message), every one
    acknowledged: none comes again after a reconnect."""
    address = Broker.from_url(broker.url)
    held, release = threading.Event(), threading.Event()
    seqs: list[int] = []

    def listen(meter_id: str, leaf: str, payload: dict[str, Any]) -> None:
        seqs.append(payload["seq"])
        if payload["seq"] == 0:
            held.set()
            release.wait(10.0)

    hub = MqttHub(address, prefix="burst", client_id="burst-bench")
    hub.listeners.append(listen)
    sender = new_client(address, "burst-sender", clean=True)
    sender.connect(address.host, address.port, 5)
    sender.loop_start()
    try:
        with hub:
            sender.publish("burst/meters/m1/reading", json.dumps({"seq": 0}), qos=1)
            assert held.wait(10.0)
            infos = [
                sender.publish("burst/meters/m1/reading", json.dumps({"seq": s}), qos=1)
                for s in range(1, 201)
            ]
            for info in infos:  # with the broker, queued for the held hub
                info.wait_for_publish(10.0)
            time.sleep(0.2)
            reads = hub.reads
            release.set()
            assert _wait(lambda: len(seqs) == 201, 10.0)
            assert hub.reads - reads <= 20
        with MqttHub(address, prefix="burst", client_id="burst-bench") as again:
            again.listeners.append(listen)  # its session: nothing unacknowledged is left
            time.sleep(1.0)
    finally:
        sender.disconnect()
        sender.loop_stop()
    assert seqs == list(range(201))


def test_a_meter_pings_only_when_the_broker_has_been_quiet(
    broker: Mosquitto, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A meter that publishes and hears its PUBACKs sends no PINGREQ (paho's own check
    pinged every keep-alive regardless); a stalled one keeps its connection alive with
    pings, and stays online past the broker's 1.5 keep-alives."""
    from bench.emulator import mqtt_fleet

    pings: dict[str, int] = {}
    send_pingreq = mqtt_fleet._MeterClient._send_pingreq  # a spy on paho's packet

    def counted(client: Any) -> Any:
        name = client._client_id.decode().rsplit("-", 1)[-1]
        pings[name] = pings.get(name, 0) + 1
        return send_pingreq(client)

    monkeypatch.setattr(mqtt_fleet._MeterClient, "_send_pingreq", counted)
    address = Broker.from_url(broker.url, keepalive_s=2)
    meters = [MqttEmulatedMeter(f"ka{i}", power_w=100.0) for i in range(3)]
    hub = MqttHub(address, prefix="ka")
    with hub, MqttFleet(meters, address, prefix="ka", reading_interval_s=0.5):
        assert all(hub.wait_status(m.name, "online", 10.0) for m in meters)
        meters[0].stall(7.0)
        time.sleep(6.0)  # three keep-alives, twice the broker's limit of 1.5
        assert hub.online("ka0")
    assert pings.get("ka0", 0) >= 1
    assert pings.get("ka1", 0) == pings.get("ka2", 0) == 0
