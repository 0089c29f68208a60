"""The emulated gridmeter over a real mosquitto: the meter protocol carried by MQTT."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.config import BenchConfig, MeterConfig
from bench.emulator.mqtt_fleet import MqttEmulatedMeter, MqttFleet
from bench.errors import ToolMissingError
from bench.rig import MeterSite, open_meter
from bench.rig.mqtt import registered_hub
from bench.transport.mosquitto import Mosquitto
from bench.transport.mqtt_link import Broker, MqttHub

from .kinds import MeterUnderTest, register_kind


@register_kind("mqtt", runtime="mqtt", caps={"truth", "wire", "reboot"})
def mqtt_meter(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The emulator's device behind a private mosquitto, the driver through the hub."""
    try:
        broker = Mosquitto()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    with broker:
        address = Broker.from_url(broker.url)
        meter = MqttEmulatedMeter("conf-1", factory_front_end=True)
        with MqttHub(address) as hub, MqttFleet([meter], address):
            assert hub.wait_status("conf-1", "online", 10.0)
            config = MeterConfig("conf-1", kind="mqtt")
            with registered_hub(hub):
                site = MeterSite(hub.link("conf-1").url)
                driver = open_meter(config, BenchConfig(meters=(config,)), site)
            try:
                yield MeterUnderTest(
                    driver,
                    meter,
                    frozenset({"truth", "wire", "reboot"}),
                    reboot=meter.reboot,
                )
            finally:
                driver.close()
