"""Python meter emulator: the device side of firmware/PROTOCOL.md over ptys or TCP.

Runtime code (devices, transport, chain, store) never imports this package.
"""

from bench.emulator.device import DeviceStats, Eeprom, Faults, MeterDevice
from bench.emulator.farm import EmulatedMeter, MeterFarm, emulated_meter_on
from bench.emulator.from_config import emulated_meters
from bench.emulator.physics import MeterPhysics
from bench.emulator.profile import Profile

__all__ = [
    "DeviceStats",
    "Eeprom",
    "EmulatedMeter",
    "Faults",
    "MeterDevice",
    "MeterFarm",
    "MeterPhysics",
    "Profile",
    "emulated_meter_on",
    "emulated_meters",
]
