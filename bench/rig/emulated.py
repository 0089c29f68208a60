"""The ``emulated`` kind: Python meters in one :class:`MeterFarm`, each on a pty."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import replace

from bench.config import BenchConfig, MeterConfig
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.keystore import relay_key
from bench.devices.protocol import Meter
from bench.emulator import EmulatedMeter, MeterFarm, emulated_meters
from bench.emulator.physics import TruthHandles
from bench.rig.kinds import MeterSite, SimTime


class TruthLoad:
    """Load control of an emulated meter (on a pty, over MQTT, on a Modbus line) through
    its truth handles: the configured profile, or constant power, scaled."""

    def __init__(self, meter: TruthHandles, configured: MeterConfig) -> None:
        self._meter = meter
        self._profile = meter.physics.profile
        self._power_w = configured.power_w

    def true_power_w(self) -> float:
        """The emulated load's power, 0 while the relay is open."""
        return self._meter.power_w if self._meter.relay_closed else 0.0

    def set_power(self, power_w: float) -> None:
        """Hold a constant power."""
        self._meter.set_power(power_w)

    def scale(self, factor: float) -> None:
        """Scale the configured profile (or constant power)."""
        if self._profile is not None:
            self._meter.set_profile(self._profile.scaled(factor))
        else:
            self._meter.set_power(self._power_w * factor)


class EmulatedLoad(TruthLoad):
    """Load control of an emulated meter on a pty, which the feeder can follow."""

    _meter: EmulatedMeter

    def power_at(self, t_s: float) -> float:
        """The emulated load's power at simulated instant ``t_s`` (0 with the relay open)."""
        return self._meter.physics.true_power_w(t_s) if self._meter.relay_closed else 0.0

    def follow(self, source: Callable[[float], float]) -> None:
        """Draw ``source(t)`` at each simulated instant ``t`` from now on."""
        self._meter.follow(source)

    def unlimited_power_at(self, t_s: float) -> float:
        """The load's power at ``t_s`` before the grid's limits (0 with the relay open)."""
        return self._meter.physics.unlimited_power_w(t_s) if self._meter.relay_closed else 0.0

    def limit(self, limiter: Callable[[float, float], float] | None) -> None:
        """Draw ``limiter(t, unlimited power)`` from now on (curtailment, shedding)."""
        self._meter.limit(limiter)

    def settle(self) -> None:
        """Integrate the meter's true counters up to now."""
        self._meter.settle()


def start_farm(
    stack: contextlib.ExitStack, meters: Sequence[MeterConfig], bench: BenchConfig, time: SimTime
) -> dict[str, MeterSite]:
    """One farm for every emulated meter, integrating on the scenario's clock (each
    keeping its EEPROM in ``time.memory_dir`` when given)."""
    emulated = emulated_meters(
        replace(bench, meters=tuple(meters)), seed=bench.seed, memory_dir=time.memory_folder()
    )
    farm = stack.enter_context(
        MeterFarm(emulated, baud=bench.baud, sim_clock=time.now_s, real_time_of=time.real_time_of)
    )
    return {
        m.meter_id: MeterSite(
            farm.meters[m.meter_id].port,
            EmulatedLoad(farm.meters[m.meter_id], m),
            restored=farm.meters[m.meter_id].restored,
        )
        for m in meters
    }


def open_on_pty(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    """The project's protocol on a started meter's pty (no board reset to wait for)."""
    return FirmataMeter.open(
        site.url, baud=bench.baud, key=relay_key(meter), reset_wait_s=0.0, backend=bench.backend
    )
