"""One emulated meter's generated power over a simulated day: its loads minus its arrays.

Signed as the meter sees it (imports positive, PV exports negative); day ``d`` of the
simulated clock (``t_s // 86 400``) is ``[site] start_date + d``.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

import numpy as np

from bench.config import BenchConfig, LoadConfig, PvArrayConfig
from bench.profiles.cache import cache_key, cached
from bench.profiles.loads import load_power_w

DAY_S = 86_400.0


@dataclass
class MeterDays:
    """The generated days of one meter, made on first use and kept."""

    bench: BenchConfig
    meter_id: str
    arrays: tuple[PvArrayConfig, ...]
    loads: tuple[LoadConfig, ...]
    _days: dict[int, tuple[tuple[float, ...], tuple[float, ...]]] = field(
        default_factory=dict, repr=False
    )
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def name(self) -> str:
        """A label for the meter's profile (its arrays' kWp and its loads)."""
        parts = [f"pv{a.kwp:g}kWp" for a in self.arrays]
        parts += [f"{x.kind}*{x.units:g}" for x in self.loads]
        return "+".join(parts)

    def day(self, day: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        """(seconds after midnight from 0 to 86 400, signed power W) of simulated ``day``.

        A day made here starts making the next one in the background, so a meter
        crossing midnight on an accelerated clock does not wait for pvlib.
        """
        found = self._days.get(day)
        if found is not None:
            return found
        made = self._made(day)
        threading.Thread(target=self._made, args=(day + 1,), daemon=True).start()
        return made

    def _made(self, day: int) -> tuple[tuple[float, ...], tuple[float, ...]]:
        with self._lock:
            if day not in self._days:
                times_s, power_w = self._make(day)
                self._days[day] = (tuple(times_s.tolist()), tuple(power_w.tolist()))
            return self._days[day]

    def pv_ac_w(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        """(seconds after midnight, the arrays' summed AC power ≥ 0) of simulated ``day``."""
        site = self.bench.site
        date = site.date_of(day)
        n = round(DAY_S / site.step_s) + 1
        times_s = np.arange(n) * site.step_s
        total = np.zeros(n)
        if self.arrays:
            from bench.profiles.pv import array_ac_w, site_day

            for array in self.arrays:

                def make(array: PvArrayConfig = array) -> np.ndarray:
                    return array_ac_w(array, site, site_day(site, date))

                total += cached(cache_key(array, site, date), make)
        return times_s, total

    def _make(self, day: int) -> tuple[np.ndarray, np.ndarray]:
        times_s, pv_w = self.pv_ac_w(day)
        date = self.bench.site.date_of(day)
        kind = self.bench.day_kind(date)
        power = -pv_w
        for load in self.loads:
            power = power + load_power_w(
                load.kind, times_s / 3600.0, date, kind, units=load.units, peak_w=load.peak_w
            )
        return times_s, power


def meter_days(bench: BenchConfig, meter_id: str) -> MeterDays | None:
    """The generated days of ``meter_id``, or None when no array or load is on it."""
    arrays = tuple(a for a in bench.arrays if a.meter_id == meter_id)
    loads = tuple(x for x in bench.loads if x.meter_id == meter_id)
    if not arrays and not loads:
        return None
    return MeterDays(bench, meter_id, arrays, loads)
