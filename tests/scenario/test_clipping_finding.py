"""A meter whose input clips (PROTOCOL.md §5.2 flags bit 3) is billed only with a
finding: readings of emulated meters with the firmware's factory front end (real ptys, the
bench's driver), one drawing 20 A (beyond the 25 A-peak range), one 4.3 A, go through the
fleet; one audit finding per clipped episode, none for the meter in range."""

from __future__ import annotations

import queue
import tomllib
from typing import Any, cast

from bench.config import parse_scenario
from bench.devices import FirmataMeter, MeterPoller
from bench.emulator import EmulatedMeter, MeterFarm
from bench.events import EnergyUnaccounted
from bench.rig import Rig
from bench.scenario.fleet import MeterFleet

CONFIG = """
[[meters]]
id = "heater"
[[meters]]
id = "fridge"
[[participants]]
name = "heater"
meter = "heater"
[[participants]]
name = "fridge"
meter = "fridge"
"""


class _NoMeterClock:
    def meter_clock(self, meter_id: str) -> None:
        return None

    def boundary_register(self, meter_id: str) -> None:
        return None

    def kind(self, meter_id: str) -> str:
        return "emulated"

    def stream_period_s(self, meter_id: str) -> None:
        return None


def test_a_clipped_meter_raises_one_finding_per_episode() -> None:
    config = parse_scenario(tomllib.loads(CONFIG))
    readings: queue.Queue[Any] = queue.Queue()
    pollers = cast(dict[str, MeterPoller], {"heater": None, "fridge": None})
    fleet = MeterFleet(config, readings, cast(Rig, _NoMeterClock()), pollers)
    with MeterFarm() as farm:
        heater = farm.add(EmulatedMeter("heater", power_w=4600.0, factory_front_end=True))
        fridge = farm.add(EmulatedMeter("fridge", power_w=1000.0, factory_front_end=True))
        with FirmataMeter.open(heater.port) as h, FirmataMeter.open(fridge.port) as f:
            for _ in range(5):
                readings.put(h.read())
                readings.put(f.read())
            fleet.drain()
            first = fleet.energy_events()
            heater.set_power(3000.0)  # back in range: the episode ends
            readings.put(h.read())
            heater.set_power(4600.0)  # a second episode
            readings.put(h.read())
            readings.put(h.read())
            fleet.drain()
            second = fleet.energy_events()
    assert all(isinstance(e, EnergyUnaccounted) for e in first + second)
    assert [e.meter_id for e in first] == ["heater"]
    assert [e.meter_id for e in second] == ["heater"]
    message = first[0].message
    assert "clipped at its ADC's rail" in message and "19." in message  # it reads low
    latest = fleet.latest("heater")
    assert latest is not None and latest.clipped and not latest.valid
