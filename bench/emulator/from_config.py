"""Emulated meters built from a bench config's ``kind = "emulated"`` entries."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from bench.config import BenchConfig, MeterConfig
from bench.devices.keystore import relay_key
from bench.emulator.dated import DatedProfile
from bench.emulator.farm import EmulatedMeter
from bench.emulator.profile import Profile
from bench.profiles import meter_days


def meter_profile(config: BenchConfig, meter: MeterConfig) -> Profile | None:
    """What ``meter`` follows: its generated arrays and loads plus its daily ``profile``."""
    daily = Profile.parse(meter.profile) if meter.profile else None
    days = meter_days(config, meter.meter_id)
    if days is None:
        return daily
    days.day(0)  # the clock's first day (and pvlib's import) before any clock runs
    generated = DatedProfile.of(days)
    return generated.plus(daily) if daily else generated


def emulated_meters(
    config: BenchConfig, *, seed: int | None = None, memory_dir: Path | None = None
) -> list[EmulatedMeter]:
    """One :class:`EmulatedMeter` per emulated entry, not yet in a farm; with
    ``memory_dir`` (a folder that exists), each keeps its EEPROM there (``<id>.eeprom``,
    mode 0600)."""
    meters = []
    for i, m in enumerate(config.meters):
        if not m.emulated:
            continue
        meters.append(
            EmulatedMeter(
                m.meter_id,
                meter_profile(config, m),
                power_w=m.power_w,
                key=relay_key(m),
                faults=replace(m.faults),  # each meter mutates its own copy
                seed=None if seed is None else seed + i,
                memory=None if memory_dir is None else memory_dir / f"{m.meter_id}.eeprom",
            )
        )
    return meters
