"""Meter drivers: readings as frozen dataclasses, one reader thread per port."""

from bench.devices.energy import EnergyTracker
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.poller import (
    MeterEvent,
    MeterOnline,
    MeterOutage,
    MeterPoller,
    MeterRebooted,
    MeterReconnected,
    PollerStats,
)
from bench.devices.protocol import Meter
from bench.devices.reading import Calibration, EnergyDelta, Identity, Reading
from bench.devices.stream_clock import StreamClock
from bench.devices.wire import MeterRefusedError

__all__ = [
    "Calibration",
    "EnergyDelta",
    "EnergyTracker",
    "FirmataMeter",
    "Identity",
    "Meter",
    "MeterEvent",
    "MeterOnline",
    "MeterOutage",
    "MeterPoller",
    "MeterRebooted",
    "MeterReconnected",
    "MeterRefusedError",
    "PollerStats",
    "Reading",
    "StreamClock",
]
