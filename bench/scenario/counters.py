"""Meter energy at interval boundaries, interpolated between readings.

Meters report on their own schedule, so the last reading before a boundary is up to
one reporting period old, and at an accelerated clock that skews one interval's energy
into the next. Each meter's cumulative counters (derived only from the meters' own
counters, across outages and reboots) are interpolated linearly at the boundary's
instant instead, between the two readings that straddle it, so all meters are cut at
the same moment. A reading is placed at the instant the meter read its counters when
the meter tells it (its own clock, mapped to the host's: :meth:`add`'s ``t_s``), else
at its arrival: a reading that arrives late (a busy host, an accelerated clock) then
moves no energy across the boundary.

A boundary is cut on schedule whether or not every meter has reported after it. A
meter with no reading after the boundary yet (late, or out) is cut at its last reading
and the boundary is kept *pending*; when its readings cover the boundary, the energy it
consumed before the boundary comes out as a :class:`CatchUp` for that interval (at the
run's first boundary, which ends no interval, it is dropped: it is before the run). Across
a gap between readings longer than ``max_gap_s`` the counters cannot say when the energy
was consumed: it comes out as a catch-up for the gap (``interval_id`` None), pro rata up
to the last boundary cut, and one more for each boundary cut inside the gap after that
(a bench fallen behind cuts boundaries the meter's clock has long passed). Nothing is
dropped: the history is kept back to the oldest boundary still pending.
"""

from __future__ import annotations

from bisect import bisect_left
from dataclasses import dataclass, field

from bench.devices import EnergyTracker, Reading
from bench.devices.wire import ENERGY_WRAP_MWH


@dataclass(frozen=True)
class CatchUp:
    """Energy a meter consumed before a boundary already cut, found from its counters.

    ``interval_id`` is the interval it was consumed in, or None when it was consumed
    somewhere in an outage (``from_t_s``..``to_t_s``, host monotonic seconds).
    """

    meter_id: str
    interval_id: int | None
    from_t_s: float
    to_t_s: float
    import_wh: float
    export_wh: float


@dataclass
class _Meter:
    times_s: list[float] = field(default_factory=list)
    import_wh: list[float] = field(default_factory=list)
    export_wh: list[float] = field(default_factory=list)
    mark_import_wh: float = 0.0
    mark_export_wh: float = 0.0
    pending: list[tuple[int | None, float]] = field(default_factory=list)
    # long gaps already attributed: the reading opening the gap → up to when
    gaps_done: dict[float, float] = field(default_factory=dict)
    # the last reading's raw registers (mWh, as on the wire) and cumulative Wh
    reading_mwh: tuple[int, int] | None = None
    reading_wh: tuple[float, float] = (0.0, 0.0)
    reading_raw_wh: tuple[float, float] = (0.0, 0.0)  # its registers as it reported them
    pinned_from_s: float = float("inf")  # the first boundary pinned (:meth:`pin`)


def _mwh(import_wh: float, export_wh: float) -> tuple[int, int]:
    """Registers in whole mWh, wrapped as on the wire."""
    return round(import_wh * 1000) % ENERGY_WRAP_MWH, round(export_wh * 1000) % ENERGY_WRAP_MWH


def _signed_mwh(d: int) -> int:
    """A register difference across the wrap, signed."""
    d %= ENERGY_WRAP_MWH
    return d - ENERGY_WRAP_MWH if d > ENERGY_WRAP_MWH // 2 else d


def _last(meter: _Meter) -> tuple[float, float]:
    return (
        meter.import_wh[-1] if meter.import_wh else 0.0,
        meter.export_wh[-1] if meter.export_wh else 0.0,
    )


class BoundaryCounters:
    """Cumulative import/export per meter since its first reading, cut at boundaries."""

    def __init__(self, max_gap_s: float = 1.0) -> None:
        self.max_gap_s = max_gap_s
        self._tracker = EnergyTracker()
        self._meters: dict[str, _Meter] = {}
        self._catch_ups: list[CatchUp] = []
        self._start_t_s: float | None = None
        self._last_cut_t_s: float | None = None
        self._zero_at_s: dict[str, float] = {}
        self.unknown_start: list[tuple[str, float]] = []
        """(meter, first reading time) of meters that came online after the first
        boundary with counters that did not start at a known instant: their energy
        before the first reading is unknown."""

    def counters_zero_at(self, meter_id: str, t_s: float) -> None:
        """The meter's counters were 0 at ``t_s`` (an emulated meter started then)."""
        self._zero_at_s[meter_id] = t_s

    def add(self, reading: Reading, t_s: float | None = None) -> None:
        """Account one reading (in arrival order per meter) taken at ``t_s``: the instant
        the meter read its counters, on the clock boundaries are cut on (default the
        reading's arrival time ``reading.t_s``)."""
        t = reading.t_s if t_s is None else t_s
        delta = self._tracker.update(reading)
        meter = self._meters.setdefault(reading.meter_id, _Meter())
        if not meter.times_s:
            self._first_reading(reading, t)
        imp, exp = meter.reading_wh if meter.reading_mwh is not None else _last(meter)
        if delta is not None:
            imp += delta.import_wh
            exp += delta.export_wh
        meter.reading_wh = (imp, exp)
        meter.reading_mwh = _mwh(reading.energy_import_wh, reading.energy_export_wh)
        meter.reading_raw_wh = (reading.energy_import_wh, reading.energy_export_wh)
        times = meter.times_s
        if times and t <= times[-1]:
            i = bisect_left(times, t)
            if times[i] > t and meter.pinned_from_s <= t:
                # taken before a boundary pinned already (it arrived late): in its place
                times.insert(i, t)
                meter.import_wh.insert(i, imp)
                meter.export_wh.insert(i, exp)
                return
            # taken at the same instant as the previous reading: it supersedes it
            meter.import_wh[-1], meter.export_wh[-1] = imp, exp
            return
        times.append(t)
        meter.import_wh.append(imp)
        meter.export_wh.append(exp)
        self._resolve(reading.meter_id, meter)

    def pin(self, meter_id: str, t_s: float, import_wh: float, export_wh: float) -> None:
        """The meter's registers showed (``import_wh``, ``export_wh``) at ``t_s``, on
        its own clock (latched at a boundary): a point there, cumulative from its last
        reading, so a cut at ``t_s`` is exact whatever the gaps between readings. Only
        after the meter's first reading (before it, nothing to count from)."""
        meter = self._meters.get(meter_id)
        if meter is None or meter.reading_mwh is None:
            return
        last_imp, last_exp = meter.reading_mwh
        pin_imp, pin_exp = _mwh(import_wh, export_wh)
        cum_imp, cum_exp = meter.reading_wh
        imp = cum_imp + _signed_mwh(pin_imp - last_imp) / 1000
        exp = cum_exp + _signed_mwh(pin_exp - last_exp) / 1000
        times = meter.times_s
        i = bisect_left(times, t_s)
        if i < len(times) and times[i] == t_s:
            meter.import_wh[i], meter.export_wh[i] = imp, exp
        else:
            times.insert(i, t_s)
            meter.import_wh.insert(i, imp)
            meter.export_wh.insert(i, exp)
        meter.pinned_from_s = min(meter.pinned_from_s, t_s)
        self._resolve(meter_id, meter)

    def _first_reading(self, r: Reading, t_s: float) -> None:
        """A meter first seen after the first boundary: its energy since then, pro rata
        from counters known to start at 0, else noted as unknown."""
        start = self._start_t_s
        if start is None or t_s <= start:
            return
        zero_at = self._zero_at_s.get(r.meter_id)
        if zero_at is None or t_s <= zero_at:
            self.unknown_start.append((r.meter_id, t_s))
            return
        share = (t_s - max(start, zero_at)) / (t_s - zero_at)
        self._catch_ups.append(
            CatchUp(
                r.meter_id,
                None,
                start,
                t_s,
                r.energy_import_wh * share,
                r.energy_export_wh * share,
            )
        )

    def held_until(self, meter_id: str, t_s: float) -> None:
        """The meter's counters stood still from its last reading up to ``t_s`` (its
        clock was held): a point there with the same counters. A reading taken in the
        hold that arrives later supersedes it with the same counters."""
        meter = self._meters.get(meter_id)
        if meter is None or not meter.times_s or meter.times_s[-1] >= t_s:
            return
        meter.times_s.append(t_s)
        meter.import_wh.append(meter.import_wh[-1])
        meter.export_wh.append(meter.export_wh[-1])
        self._resolve(meter_id, meter)

    def registers_at_cut(self, meter_id: str) -> tuple[float, float] | None:
        """The meter's own (import, export) counters, as it reports them, at the last
        cut: its last reading's less what it counted since (None before a reading)."""
        meter = self._meters.get(meter_id)
        if meter is None or meter.reading_mwh is None:
            return None
        imp, exp = meter.reading_wh
        raw_imp, raw_exp = meter.reading_raw_wh
        return (
            raw_imp - max(0.0, imp - meter.mark_import_wh),
            raw_exp - max(0.0, exp - meter.mark_export_wh),
        )

    def seen_after(self, meter_id: str, t_s: float) -> bool:
        """True once the meter has reported at or after ``t_s``."""
        meter = self._meters.get(meter_id)
        return bool(meter and meter.times_s and meter.times_s[-1] >= t_s)

    def cut(self, meter_id: str, t_s: float, interval_id: int | None = None) -> tuple[float, float]:
        """(import, export) Wh counted from the previous cut to ``t_s``; moves the mark.

        Without a reading at or after ``t_s`` yet the meter is cut at its last reading
        and the boundary stays pending for a catch-up (:meth:`take_catch_ups`).
        """
        if self._start_t_s is None:
            self._start_t_s = t_s
        self._last_cut_t_s = t_s
        meter = self._meters.setdefault(meter_id, _Meter())
        if not meter.times_s or meter.times_s[-1] < t_s:
            meter.pending.append((interval_id, t_s))
            if not meter.times_s:
                return 0.0, 0.0
            return self._attribute(meter_id, meter, meter.times_s[-1])
        self._resolve(meter_id, meter)
        out = self._attribute(meter_id, meter, t_s)
        self._trim(meter, t_s)
        return out

    def take_catch_ups(self) -> list[CatchUp]:
        """Catch-ups found since the last call."""
        out, self._catch_ups = self._catch_ups, []
        return out

    def pending(self) -> dict[str, tuple[float | None, list[int | None]]]:
        """Meters with boundaries still pending: (last reading time, pending intervals)."""
        return {
            meter_id: (m.times_s[-1] if m.times_s else None, [i for i, _ in m.pending])
            for meter_id, m in self._meters.items()
            if m.pending
        }

    def _resolve(self, meter_id: str, meter: _Meter) -> None:
        """Pending boundaries now covered by a reading become catch-ups."""
        resolved_t_s = None
        while meter.pending and meter.times_s[-1] >= meter.pending[0][1]:
            interval_id, resolved_t_s = meter.pending.pop(0)
            prev = meter.times_s[max(0, bisect_left(meter.times_s, resolved_t_s) - 1)]
            imp, exp = self._attribute(meter_id, meter, resolved_t_s)
            if interval_id is None and resolved_t_s == self._start_t_s:
                continue  # the run's first boundary: what came before it is not the run's
            if imp > 0 or exp > 0:
                self._catch_ups.append(CatchUp(meter_id, interval_id, prev, resolved_t_s, imp, exp))
        if resolved_t_s is not None:
            self._trim(meter, resolved_t_s)

    def _attribute(self, meter_id: str, meter: _Meter, t_s: float) -> tuple[float, float]:
        """Energy from the mark to ``t_s`` (covered by a reading); a long gap around
        ``t_s`` goes to a catch-up of its own."""
        times = meter.times_s
        i = bisect_left(times, t_s)
        if i == 0 or times[i] == t_s:
            imp, exp = meter.import_wh[i], meter.export_wh[i]
        elif times[i] - times[i - 1] > self.max_gap_s:
            imp, exp = meter.import_wh[i - 1], meter.export_wh[i - 1]
            start = self._start_t_s
            if start is not None and times[i - 1] < start < times[i]:
                # an outage over the run's start: only its share after the start (pro rata)
                # belongs to the run
                f = (start - times[i - 1]) / (times[i] - times[i - 1])
                imp += (meter.import_wh[i] - imp) * f
                exp += (meter.export_wh[i] - exp) * f
                self._move_mark(meter, imp, exp)
                if t_s <= start:
                    return 0.0, 0.0
            if times[i - 1] in meter.gaps_done:
                return self._later_in_gap(meter_id, meter, i, t_s)
            # up to the last boundary cut (pro rata): what follows it belongs to the next
            # interval, or, at the run's end, to no interval of the run
            to_t_s, end_imp, end_exp = times[i], meter.import_wh[i], meter.export_wh[i]
            last = self._last_cut_t_s
            if last is not None and last < to_t_s:
                f = (last - times[i - 1]) / (to_t_s - times[i - 1])
                end_imp = meter.import_wh[i - 1] + (end_imp - meter.import_wh[i - 1]) * f
                end_exp = meter.export_wh[i - 1] + (end_exp - meter.export_wh[i - 1]) * f
                to_t_s = last
            meter.gaps_done[times[i - 1]] = to_t_s
            gap_imp = end_imp - max(imp, meter.mark_import_wh)
            gap_exp = end_exp - max(exp, meter.mark_export_wh)
            out = self._move_mark(meter, imp, exp)
            from_t_s = times[i - 1] if start is None else max(times[i - 1], start)
            self._catch_ups.append(
                CatchUp(meter_id, None, from_t_s, to_t_s, max(gap_imp, 0), max(gap_exp, 0))
            )
            self._move_mark(meter, end_imp, end_exp)
            return out
        else:
            f = (t_s - times[i - 1]) / (times[i] - times[i - 1])
            imp = meter.import_wh[i - 1] + (meter.import_wh[i] - meter.import_wh[i - 1]) * f
            exp = meter.export_wh[i - 1] + (meter.export_wh[i] - meter.export_wh[i - 1]) * f
        return self._move_mark(meter, imp, exp)

    def _later_in_gap(
        self, meter_id: str, meter: _Meter, i: int, t_s: float
    ) -> tuple[float, float]:
        """A boundary cut inside a long gap already attributed up to an earlier instant
        (the reading after the gap arrived before the bench cut this boundary: it fell
        behind): the gap's energy from there to ``t_s`` (pro rata) is a catch-up of the
        outage too, not the interval's, and none of it is lost at the run's end."""
        times = meter.times_s
        done_t_s = meter.gaps_done[times[i - 1]]
        if t_s > done_t_s:
            f = (t_s - times[i - 1]) / (times[i] - times[i - 1])
            imp = meter.import_wh[i - 1] + (meter.import_wh[i] - meter.import_wh[i - 1]) * f
            exp = meter.export_wh[i - 1] + (meter.export_wh[i] - meter.export_wh[i - 1]) * f
            gap_imp, gap_exp = self._move_mark(meter, imp, exp)
            if gap_imp > 0 or gap_exp > 0:
                self._catch_ups.append(CatchUp(meter_id, None, done_t_s, t_s, gap_imp, gap_exp))
            meter.gaps_done[times[i - 1]] = t_s
        return 0.0, 0.0

    @staticmethod
    def _move_mark(meter: _Meter, imp: float, exp: float) -> tuple[float, float]:
        imp, exp = max(imp, meter.mark_import_wh), max(exp, meter.mark_export_wh)
        out = (imp - meter.mark_import_wh, exp - meter.mark_export_wh)
        meter.mark_import_wh, meter.mark_export_wh = imp, exp
        return out

    @staticmethod
    def _trim(meter: _Meter, t_s: float) -> None:
        """Drop readings no cut can need: those before the last one at or before ``t_s``
        (and before every pending boundary)."""
        keep_from = min([t_s, *(t for _, t in meter.pending)])
        i = max(0, bisect_left(meter.times_s, keep_from) - 1)
        if i:
            del meter.times_s[:i], meter.import_wh[:i], meter.export_wh[:i]
            meter.gaps_done = {t: u for t, u in meter.gaps_done.items() if t >= meter.times_s[0]}
