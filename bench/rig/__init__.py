"""The hardware rig: a registry of meter kinds and the rig that starts a bench's meters.

``bench.rig`` is the only runtime package that imports :mod:`bench.emulator` or
:mod:`bench.firmware.sim` (checked by import-linter).
"""

from bench.rig import builtin as _builtin  # noqa: F401  (registers the built-in kinds)
from bench.rig.feeder import FeederDriver, feeder_power_w
from bench.rig.kinds import (
    Capability,
    MeterKind,
    MeterSite,
    SimTime,
    meter_kind,
    open_meter,
    register_kind,
    registered_kinds,
)
from bench.rig.limits import GridLimits, limit_fractions, schedule_w
from bench.rig.load import LoadControl
from bench.rig.rig import Rig

__all__ = [
    "Capability",
    "FeederDriver",
    "GridLimits",
    "LoadControl",
    "MeterKind",
    "MeterSite",
    "Rig",
    "SimTime",
    "feeder_power_w",
    "limit_fractions",
    "meter_kind",
    "open_meter",
    "register_kind",
    "registered_kinds",
    "schedule_w",
]
