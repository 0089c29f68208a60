"""What an emulated meter measures: power from a profile or a setpoint, on a simulated clock."""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.devices.reading import Calibration
from bench.emulator.profile import Profile

if TYPE_CHECKING:
    from bench.config import Faults
    from bench.emulator.device import Eeprom

DEFAULT_CAL = Calibration()
MAX_STEP_S = 60.0
"""Integration steps end on this grid of simulated seconds (profiles' knots and the
grid's control steps lie on it)."""
MWH_PER_WS = 1000 / 3600
LATCHED_KEPT = 64
"""Boundaries whose latched counters a meter keeps."""
CLIP_SHARE = 1 / 16
"""A cycle with more of its samples at the ADC's rail is clipped (as in
firmware/src/cycle_accumulator.h)."""


@dataclass(frozen=True, slots=True)
class Measured:
    """One measurement as the meter reports it (calibration, drift and noise applied)."""

    voltage_v: float
    current_a: float
    power_w: float
    power_factor: float
    frequency_hz: float


class MeterPhysics:
    """The grid connection point of one participant, integrated in simulated time.

    Power follows ``profile`` (signed, W) if given, else the setpoint ``power_w``.
    The energy counters live in ``eeprom`` so they survive reboots.
    """

    def __init__(
        self,
        eeprom: Eeprom,
        faults: Faults,
        sim_clock: Callable[[], float],
        *,
        profile: Profile | None = None,
        power_w: float = 0.0,
        voltage_v: float = 230.0,
        frequency_hz: float = 50.0,
        power_factor: float = 1.0,
        seed: int | None = None,
        factory_front_end: bool = False,
    ) -> None:
        self.eeprom = eeprom
        self.factory_front_end = factory_front_end
        """Clip as the firmware's factory front end would (:meth:`clipped`); else the
        sensors are sized for the load and nothing clips."""
        self.faults = faults
        self.sim_clock = sim_clock
        self.profile = profile
        self.setpoint_w = power_w
        self.power_source: Callable[[float], float] | None = None
        """Power at a simulated instant from elsewhere (the emulated feeder follows the
        microgrid's flow); it wins over the profile and the setpoint."""
        self.limiter: Callable[[float, float], float] | None = None
        """``(t, unlimited power) -> power`` drawn: the grid's limits (curtailment,
        shedding) on the profile or setpoint (:mod:`bench.rig.limits`)."""
        self.voltage_v = voltage_v
        self.frequency_hz = frequency_hz
        self.power_factor = power_factor
        self._rng = random.Random(seed)
        self._t = sim_clock()
        self._t_start = self._t
        self._boundaries: tuple[float, float] | None = None
        self._latched: dict[int, tuple[int, int]] = {}

    def use_clock(self, sim_clock: Callable[[], float]) -> None:
        """Integrate on ``sim_clock`` from now on (counters integrated up to now first)."""
        self.advance()
        self.sim_clock = sim_clock
        self._t = self._t_start = sim_clock()

    def true_power_w(self, t_s: float | None = None) -> float:
        """The load's power (before relay and calibration) at simulated time ``t_s``."""
        t = self.sim_clock() if t_s is None else t_s
        if self.power_source is not None:
            return self.power_source(t)
        power = self.unlimited_power_w(t)
        return power if self.limiter is None else self.limiter(t, power)

    def unlimited_power_w(self, t_s: float) -> float:
        """The profile's or setpoint's power at ``t_s``, before the grid's limits."""
        return self.profile.power_at(t_s) if self.profile else self.setpoint_w

    def limit(self, limiter: Callable[[float, float], float] | None) -> None:
        """Draw ``limiter(t, unlimited power)`` from now on (counters integrated up to now)."""
        self.advance()
        self.limiter = limiter

    def set_power(self, power_w: float) -> None:
        """Switch to a constant power from now on (counters integrated up to now first)."""
        self.advance()
        self.profile, self.setpoint_w, self.power_source = None, power_w, None

    def follow(self, source: Callable[[float], float]) -> None:
        """Take the power at each simulated instant from ``source`` from now on."""
        self.advance()
        self.profile, self.power_source = None, source

    def set_profile(self, profile: Profile | None) -> None:
        """Follow ``profile`` from now on."""
        self.advance()
        self.profile, self.power_source = profile, None

    def latch_boundaries(self, origin_s: float, period_s: float) -> None:
        """Latch the counters at every simulated ``origin_s + k * period_s`` (k ≥ 1) from
        now on, as a meter's billing register does at the end of each period on its own
        clock: :meth:`latched_mwh` tells them, however late the host asks."""
        self.advance()
        self._boundaries = (origin_s, period_s)
        self._latched.clear()

    def latched_mwh(self, k: int) -> tuple[int, int] | None:
        """(import, export) mWh as the meter's registers showed them (whole mWh, as in a
        READING) at boundary ``k`` of :meth:`latch_boundaries`; None before the meter's
        clock reached it or when it is no longer kept."""
        if self._boundaries is not None:
            self.advance()
        return self._latched.get(k)

    def advance(self) -> None:
        """Integrate the counters up to the simulated now (split at latched boundaries)."""
        now = self.sim_clock()
        if now <= self._t:
            return
        if self._boundaries is not None:
            origin_s, period_s = self._boundaries
            k = max(1, math.floor((self._t - origin_s) / period_s) + 1)
            while (b := origin_s + k * period_s) <= now:
                if b > self._t:
                    self._integrate(b)
                ee = self.eeprom
                self._latched[k] = (int(ee.import_mwh), int(ee.export_mwh))
                if len(self._latched) > LATCHED_KEPT:
                    del self._latched[next(iter(self._latched))]
                k += 1
        self._integrate(now)

    def _integrate(self, now: float) -> None:
        """Integrate the counters from the last instant up to simulated ``now``."""
        dt = now - self._t
        if dt <= 0:
            return
        ee = self.eeprom
        if ee.relay_closed:
            varying = (
                self.profile is not None
                or self.power_source is not None
                or self.limiter is not None
            )
            t = self._t
            while t < now:
                # steps end on the MAX_STEP_S grid (the profiles' knots, the limits' control
                # steps): the midpoint rule is exact on each, so the counters do not depend
                # on the instants the host happened to integrate at
                end = min(now, (math.floor(t / MAX_STEP_S) + 1) * MAX_STEP_S) if varying else now
                h = end - t
                t_mid = t + 0.5 * h
                p = self.true_power_w(t_mid) * self._gain_v(t_mid) * self._gain_i(t_mid)
                if p > 0:
                    ee.import_mwh += p * h * MWH_PER_WS
                else:
                    ee.export_mwh -= p * h * MWH_PER_WS
                t = end
        self._t = now

    @property
    def integrated_to_s(self) -> float:
        """The simulated instant the counters were last integrated up to (the meter's
        own clock at its last reading of them)."""
        return self._t

    def measure(self) -> Measured:
        """Advance the counters and return what the meter would report now."""
        self.advance()
        t = self._t
        sigma = self.faults.noise_fraction
        v = self.voltage_v * self._gain_v(t) * (1 + self._rng.gauss(0, sigma) if sigma else 1)
        p_true = self.true_power_w(t)
        pf = self.power_factor
        if not self.eeprom.relay_closed or p_true == 0:
            return Measured(v, 0.0, 0.0, 0.0, self.frequency_hz)
        i = abs(p_true) / (self.voltage_v * pf) * self._gain_i(t)
        if sigma:
            i *= 1 + self._rng.gauss(0, sigma)
        sign = 1.0 if p_true > 0 else -1.0
        i_ratio, p_ratio = self._clipped_ratios(abs(p_true) / (self.voltage_v * pf))
        return Measured(v, i * i_ratio, sign * v * i * pf * p_ratio, sign * pf, self.frequency_hz)

    def _clipped_ratios(self, i_rms_a: float) -> tuple[float, float]:
        """(measured/true Irms, measured/true power) of a sine current clipped at the
        factory front end's rail (511 counts either side): with θ0 = asin(L/A), the mean
        square over a quarter period is (2/π)(A²(θ0/2 − sin 2θ0/4) + L²(π/2 − θ0)) and
        the in-phase power (4/π)(θ0/2 − sin 2θ0/4 + (L/A)·cos θ0) of the unclipped one."""
        if not self.factory_front_end:
            return 1.0, 1.0
        amp = i_rms_a * math.sqrt(2) / (DEFAULT_CAL.i_gain_ua_per_count / 1e6)
        rail = 511.0
        if amp <= rail:
            return 1.0, 1.0
        th = math.asin(rail / amp)
        core = th / 2 - math.sin(2 * th) / 4
        mean_sq = (2 / math.pi) * (core + (rail / amp) ** 2 * (math.pi / 2 - th))
        power = (4 / math.pi) * (core + rail / amp * math.cos(th))
        return math.sqrt(2 * mean_sq), power

    def adc_counts(self, channel: int, link_t_s: float) -> int:
        """Instantaneous 10-bit ADC sample on A0 (voltage) or A1 (current); others 0."""
        w = 2 * math.pi * self.frequency_hz * link_t_s
        if channel == 0:
            amp = self.voltage_v * math.sqrt(2) / (DEFAULT_CAL.v_gain_uv_per_count / 1e6)
            value = DEFAULT_CAL.v_offset_counts + amp * math.sin(w)
        elif channel == 1:
            p = self.true_power_w() if self.eeprom.relay_closed else 0.0
            i = abs(p) / (self.voltage_v * self.power_factor)
            amp = i * math.sqrt(2) / (DEFAULT_CAL.i_gain_ua_per_count / 1e6)
            phi = math.acos(self.power_factor) + (math.pi if p < 0 else 0.0)
            value = DEFAULT_CAL.i_offset_counts + amp * math.sin(w - phi)
        else:
            return 0
        return max(0, min(1023, round(value)))

    def clipped(self) -> bool:
        """True when the factory front end's samples now sit at the ADC's rail on more
        than 1/16 of a mains cycle (the firmware's rule, PROTOCOL.md §5.2 flags bit 3):
        the share of a sine of ``amp`` counts at or beyond a rail ``r`` counts from the
        mid-level is acos(r / amp) / π per side, summed over both channels' sides.
        Always False unless :attr:`factory_front_end`."""
        if not self.factory_front_end:
            return False
        v_amp = self.voltage_v * math.sqrt(2) / (DEFAULT_CAL.v_gain_uv_per_count / 1e6)
        p = self.true_power_w() if self.eeprom.relay_closed else 0.0
        i_amp = abs(p) / (self.voltage_v * self.power_factor) * math.sqrt(2)
        i_amp /= DEFAULT_CAL.i_gain_ua_per_count / 1e6
        share = 0.0
        for amp, offset in (
            (v_amp, DEFAULT_CAL.v_offset_counts),
            (i_amp, DEFAULT_CAL.i_offset_counts),
        ):
            for rail in (1022.5 - offset, offset - 0.5):  # codes rounding to 1023 / to 0
                if amp > rail:
                    share += math.acos(rail / amp) / math.pi
        return share > CLIP_SHARE

    def _gain_v(self, t: float) -> float:
        cal = self.eeprom.calibration
        return cal.v_gain_uv_per_count / DEFAULT_CAL.v_gain_uv_per_count * self._drift(t)

    def _gain_i(self, t: float) -> float:
        cal = self.eeprom.calibration
        return cal.i_gain_ua_per_count / DEFAULT_CAL.i_gain_ua_per_count * self._drift(t)

    def _drift(self, t: float) -> float:
        return 1 + self.faults.drift_per_h * (t - self._t_start) / 3600


class TruthHandles:
    """The handles a test or a scenario turns on any emulated meter (on a pty, over MQTT,
    on a Modbus line): its true load and counters, under ``lock``.

    Subclasses set ``eeprom``, ``physics`` and ``lock``; a meter that must integrate
    others first when a power changes overrides :meth:`_power_changing`.
    """

    eeprom: Eeprom
    physics: MeterPhysics
    lock: threading.RLock

    def _power_changing(self) -> None:
        """Called under the lock just before the power changes."""

    def set_power(self, power_w: float) -> None:
        """Constant signed power in W from now on (positive import, negative export)."""
        with self.lock:
            self._power_changing()
            self.physics.set_power(power_w)

    def set_profile(self, profile: Profile | None) -> None:
        """Follow ``profile`` from now on (in simulated time)."""
        with self.lock:
            self._power_changing()
            self.physics.set_profile(profile)

    @property
    def power_w(self) -> float:
        """The true power now (before relay and calibration)."""
        with self.lock:
            return self.physics.true_power_w()

    @property
    def relay_closed(self) -> bool:
        """The relay's true state."""
        return self.eeprom.relay_closed

    def energy_wh(self) -> tuple[float, float]:
        """True (import, export) counters in Wh, integrated up to now."""
        with self.lock:
            self.physics.advance()
            return self.eeprom.import_mwh / 1000, self.eeprom.export_mwh / 1000
