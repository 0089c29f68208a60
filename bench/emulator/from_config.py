"""Emulated meters built from a bench config's ``kind = "emulated"`` entries."""

from __future__ import annotations

from dataclasses import replace

from bench.config import BenchConfig
from bench.devices.keystore import relay_key
from bench.emulator.farm import EmulatedMeter
from bench.emulator.profile import Profile


def emulated_meters(config: BenchConfig, *, seed: int | None = None) -> list[EmulatedMeter]:
    """One :class:`EmulatedMeter` per emulated entry, not yet in a farm."""
    meters = []
    for i, m in enumerate(config.meters):
        if not m.emulated:
            continue
        meters.append(
            EmulatedMeter(
                m.meter_id,
                Profile.parse(m.profile) if m.profile else None,
                power_w=m.power_w,
                key=relay_key(m),
                faults=replace(m.faults),  # each meter mutates its own copy
                seed=None if seed is None else seed + i,
            )
        )
    return meters
