"""The ``simavr`` kind: the project's firmware ELF in simavr, one runner per meter.

The runner paces the AVR at the scenario's speed, so the firmware's counters follow
simulated time; the injected mains waveform is the meter's load.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from bench.builds import locate
from bench.config import BenchConfig, MeterConfig
from bench.config.keyfiles import key_file_problem
from bench.devices import wire
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.keystore import relay_key
from bench.devices.protocol import Meter
from bench.errors import ConfigError
from bench.firmware.build import build_firmware, build_runner
from bench.firmware.sim import SimMeter, Waveform
from bench.rig.kinds import MeterSite, SimTime

MAINS_V = 230.0
MAX_SPEED = 4.0
"""Fastest pace a runner keeps beside a running bench (measured on a loaded 2-core
machine: asked for 4x it ran 4.00x, for 10x only 7.5x); beyond it the firmware's
counters would fall behind the scenario's clock."""


class SimavrLoad:
    """Load control of a firmware meter: the injected waveform's current and phase."""

    def __init__(self, sim: SimMeter, power_w: float) -> None:
        self._sim = sim
        self._base_w = power_w
        self._power_w = 0.0
        self.set_power(power_w)

    def true_power_w(self) -> float:
        """The injected power, 0 while the firmware holds the relay open."""
        return self._power_w if self._sim.relay_closed else 0.0

    def set_power(self, power_w: float) -> None:
        """Inject a sine of this real power (phase 180° for export)."""
        phase = 0.0 if power_w >= 0 else 180.0
        self._sim.set_waveform(Waveform(MAINS_V, abs(power_w) / MAINS_V, phase))
        self._power_w = power_w

    def scale(self, factor: float) -> None:
        """Scale the configured power."""
        self.set_power(self._base_w * factor)


def start_runners(
    stack: contextlib.ExitStack, meters: Sequence[MeterConfig], bench: BenchConfig, time: SimTime
) -> dict[str, MeterSite]:
    """A runner per meter, renamed to its configured id and key, loaded with ``power_w``."""
    if time.speed > MAX_SPEED:
        raise ConfigError(
            f"simavr meters run the firmware at most {MAX_SPEED:g}x real time, the scenario "
            f"runs at speed {time.speed:g}; lower [scenario] speed or use emulated meters"
        )
    for m in meters:
        if m.profile:
            raise ConfigError(
                f"meter {m.meter_id!r}: a simavr meter takes a constant power_w, not a profile"
            )
    elf = locate("firmware", build=lambda: build_firmware("uno"))
    runner = build_runner()
    memory_dir = time.memory_folder()
    sites = {}
    for m in meters:
        eeprom = None if memory_dir is None else memory_dir / f"{m.meter_id}.eep"
        restored = eeprom is not None and eeprom.is_file() and eeprom.stat().st_size > 0
        problem = key_file_problem(eeprom) if restored and eeprom is not None else None
        if problem:  # it holds the meter's keys
            raise ConfigError(f"simavr meter {m.meter_id}'s EEPROM file: {problem}")
        sim = SimMeter(speed=time.speed, elf=elf, runner=runner, eeprom=eeprom)
        stack.callback(sim.close)  # (the runner writes its EEPROM file as it stops)
        if not restored:  # a fresh board: named and keyed; one from its EEPROM is already
            with FirmataMeter.open(sim.url, timeout_s=2.0, key=wire.DEFAULT_KEY) as driver:
                driver.set_meter_id(m.meter_id)
                key = relay_key(m)
                if key != wire.DEFAULT_KEY:
                    driver.set_key(key)
        sites[m.meter_id] = MeterSite(sim.url, SimavrLoad(sim, m.power_w), restored=restored)
    return sites


def open_simavr(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    """The firmware on its runner's pty (the AVR answers more slowly than the emulator)."""
    return FirmataMeter.open(site.url, key=relay_key(meter), timeout_s=1.0, backend=bench.backend)
