"""A profile over calendar days: a meter's generated PV and loads (:mod:`bench.profiles`).

Unlike a daily CSV profile it does not repeat: simulated day ``t_s // 86 400`` is its
own date, generated on first use. A daily profile added to it (the meter's ``profile``)
still repeats every day.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from dataclasses import dataclass, field, replace

from bench.emulator.profile import DAY_S, Profile
from bench.profiles import MeterDays


@dataclass(frozen=True, eq=False)
class DatedProfile(Profile):
    """``factor`` × the meter's generated day, plus an optional repeating ``base``."""

    days: MeterDays = field(kw_only=True)
    factor: float = field(default=1.0, kw_only=True)
    base: Profile | None = field(default=None, kw_only=True)

    @classmethod
    def of(cls, days: MeterDays) -> DatedProfile:
        """The meter's generated days, unscaled."""
        return cls(days.name, (), (), days=days)

    def power_at(self, t_s: float) -> float:
        """Power in W at simulated time ``t_s`` (seconds since the clock's first midnight)."""
        day = math.floor(t_s / DAY_S)
        ts, ps = self.days.day(day)
        t = t_s - day * DAY_S
        i = min(max(bisect_right(ts, t), 1), len(ts) - 1)
        t0, t1, p0, p1 = ts[i - 1], ts[i], ps[i - 1], ps[i]
        generated = p0 + (p1 - p0) * (t - t0) / (t1 - t0)
        return self.factor * generated + (self.base.power_at(t_s) if self.base else 0.0)

    def scaled(self, factor: float) -> DatedProfile:
        """This profile with every power multiplied by ``factor``."""
        return replace(
            self,
            name=f"{self.name}*{factor:g}",
            factor=self.factor * factor,
            base=self.base.scaled(factor) if self.base else None,
        )

    def plus(self, other: Profile) -> DatedProfile:
        """This profile plus a repeating daily profile."""
        if isinstance(other, DatedProfile):
            raise TypeError("one meter has one set of generated days; add arrays/loads to it")
        base = other if self.base is None else self.base.plus(other)
        return replace(self, name=f"{self.name}+{other.name}", base=base)
