"""Daily power profiles (CSV in the package data's profiles/) for emulated meters."""

from __future__ import annotations

import csv
import itertools
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path

from bench.errors import ConfigError
from bench.fixtures import profile_dir

DAY_S = 86_400.0


@dataclass(frozen=True)
class Profile:
    """Power against time of day, linearly interpolated, repeating every day.

    Signed as the meter sees it: positive imports (load), negative exports (PV).
    """

    name: str
    times_s: tuple[float, ...]
    power_w: tuple[float, ...]

    @classmethod
    def load(cls, name_or_path: str | Path) -> Profile:
        """Load the bundled ``profiles/<name>.csv`` or a CSV path (columns ``time_h,power_w``)."""
        path = Path(name_or_path)
        if not path.suffix:
            path = profile_dir() / f"{name_or_path}.csv"
        try:
            with path.open(newline="") as fh:
                rows = [r for r in csv.reader(fh) if r and not r[0].startswith("#")]
        except OSError as exc:
            known = ", ".join(sorted(p.stem for p in profile_dir().glob("*.csv")))
            raise ConfigError(
                f"cannot read profile {path}: {exc}; known profiles: {known}"
            ) from exc
        try:
            pts = [(float(r[0]) * 3600.0, float(r[1])) for r in rows[1:]]
        except (ValueError, IndexError) as exc:
            raise ConfigError(f"profile {path}: bad row ({exc}); want 'time_h,power_w'") from exc
        if len(pts) < 2 or any(b[0] <= a[0] for a, b in itertools.pairwise(pts)):
            raise ConfigError(f"profile {path}: need ≥ 2 rows with increasing time_h")
        return cls(path.stem, tuple(p[0] for p in pts), tuple(p[1] for p in pts))

    @classmethod
    def parse(cls, spec: str) -> Profile:
        """``"household+pv"``, ``"campus*0.5"``: named profiles summed and scaled."""
        total: Profile | None = None
        for term in spec.split("+"):
            name, _, factor = term.strip().partition("*")
            prof = cls.load(name.strip())
            if factor:
                try:
                    prof = prof.scaled(float(factor))
                except ValueError as exc:
                    raise ConfigError(f"profile {spec!r}: {factor!r} is not a number") from exc
            total = prof if total is None else total.plus(prof)
        assert total is not None
        return total

    def power_at(self, t_s: float) -> float:
        """Power in W at simulated time ``t_s`` (seconds since a midnight)."""
        t = t_s % DAY_S
        ts, ps = self.times_s, self.power_w
        i = bisect_right(ts, t)
        if i == 0 or i == len(ts):
            # wrap between the last point and the first point of the next day
            t0, p0 = ts[-1], ps[-1]
            t1, p1 = ts[0] + DAY_S, ps[0]
            t = t if t >= t0 else t + DAY_S
        else:
            t0, p0, t1, p1 = ts[i - 1], ps[i - 1], ts[i], ps[i]
        return p0 + (p1 - p0) * (t - t0) / (t1 - t0)

    def scaled(self, factor: float) -> Profile:
        """This profile with every power multiplied by ``factor``."""
        return Profile(
            f"{self.name}*{factor:g}", self.times_s, tuple(p * factor for p in self.power_w)
        )

    def plus(self, other: Profile) -> Profile:
        """Sum of two profiles (e.g. a prosumer: household load plus PV)."""
        times = tuple(sorted(set(self.times_s) | set(other.times_s)))
        return Profile(
            f"{self.name}+{other.name}",
            times,
            tuple(self.power_at(t) + other.power_at(t) for t in times),
        )
