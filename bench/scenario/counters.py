"""Meter energy at interval boundaries, interpolated between readings.

Meters report on their own schedule, so the last reading before a boundary is up to
one reporting period old, and at an accelerated clock that skews one interval's energy
into the next. Each meter's cumulative counters (derived only from the meters' own
counters, across outages and reboots) are interpolated linearly at the boundary's
instant instead, so all meters are cut at the same moment.
"""

from __future__ import annotations

from bisect import bisect_left
from collections import deque
from dataclasses import dataclass, field

from bench.devices import EnergyTracker, Reading


@dataclass
class _Meter:
    times_s: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    import_wh: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    export_wh: deque[float] = field(default_factory=lambda: deque(maxlen=256))
    mark_import_wh: float = 0.0
    mark_export_wh: float = 0.0


class BoundaryCounters:
    """Cumulative import/export per meter since the first reading, cut at boundaries."""

    def __init__(self) -> None:
        self._tracker = EnergyTracker()
        self._meters: dict[str, _Meter] = {}

    def add(self, reading: Reading) -> None:
        """Account one reading (in arrival order per meter)."""
        delta = self._tracker.update(reading)
        meter = self._meters.setdefault(reading.meter_id, _Meter())
        imp = meter.import_wh[-1] if meter.import_wh else 0.0
        exp = meter.export_wh[-1] if meter.export_wh else 0.0
        if delta is not None:
            imp += delta.import_wh
            exp += delta.export_wh
        if meter.times_s and reading.t_s <= meter.times_s[-1]:
            # received at the same instant as the previous reading: it supersedes it
            meter.import_wh[-1], meter.export_wh[-1] = imp, exp
            return
        meter.times_s.append(reading.t_s)
        meter.import_wh.append(imp)
        meter.export_wh.append(exp)

    def seen_after(self, meter_id: str, t_s: float) -> bool:
        """True once the meter has reported at or after ``t_s``."""
        meter = self._meters.get(meter_id)
        return bool(meter and meter.times_s and meter.times_s[-1] >= t_s)

    def cut(self, meter_id: str, t_s: float) -> tuple[float, float]:
        """(import, export) Wh counted from the previous cut to ``t_s``; moves the mark."""
        meter = self._meters.get(meter_id)
        if meter is None or not meter.times_s:
            return 0.0, 0.0
        imp = _interp(meter.times_s, meter.import_wh, t_s)
        exp = _interp(meter.times_s, meter.export_wh, t_s)
        imp, exp = max(imp, meter.mark_import_wh), max(exp, meter.mark_export_wh)
        out = (imp - meter.mark_import_wh, exp - meter.mark_export_wh)
        meter.mark_import_wh, meter.mark_export_wh = imp, exp
        return out


def _interp(times: deque[float], values: deque[float], t: float) -> float:
    """Linear interpolation in a non-decreasing series, held constant outside it."""
    i = bisect_left(times, t)
    if i == 0:
        return values[0]
    if i >= len(times):
        return values[-1]
    t0, t1 = times[i - 1], times[i]
    v0, v1 = values[i - 1], values[i]
    return v0 + (v1 - v0) * (t - t0) / (t1 - t0)
