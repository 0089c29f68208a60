"""Curtailment and load shedding at the grid connection, as the emulated meters follow them.

The feeder measures ``F = (I + U − X (1 − λ)) / (1 − λ)`` (:func:`bench.rig.feeder.feeder_power_w`:
imports ``I``, unmetered load ``U``, exports ``X``, loss fraction ``λ``). Two limits bind it:

- the feeder's **export limit** ``L``: ``−F ≤ L``. The PV inverters behind the meters that
  export (``[[arrays]]`` meters with a net export, ``X_pv`` of ``X``) curtail the same
  fraction ``c`` of their export, what can be neither consumed, stored nor exported::

      c = clip(1 − ((I + U) / (1 − λ) + L − (X − X_pv)) / X_pv, 0, 1)

- the city substation's **supply cap** ``S(h)`` at hour of day ``h`` (``[grid]
  supply_cap_schedule``) on what the substation gives the city: the city's share of the
  feeder ``F_city`` (the same form over the city's meters) less the campus's surplus
  ``max(0, −F_campus)``, which feeds the city first (the campus's own import comes
  through its own connection, not capped). The city's importing meters shed the same
  fraction ``s`` of their import ``I_city``::

      s = clip((F_city − max(0, −F_campus) − S) (1 − λ) / I_city, 0, 1)

With no local market (``separate_areas``, the ``utility`` mechanism) the campus and the
city are two connections to the grid: the export limit (the campus's net-metering limit)
binds the campus's meters alone, and the campus's surplus goes up the grid, not to the
city (the feeder measures both connections' sum).

Both are closed forms of the meters' unlimited powers at one simulated instant. Like an
inverter's control loop they are set once per :data:`CONTROL_S` of simulated time (from
the powers at its middle) and held through it: every meter (and the feeder, which
follows the others) draws its unlimited power times the fraction of that control step at
any instant it integrates, and the energy curtailed or shed in an interval is the
integral of the same function (:meth:`GridLimits.energy_wh`). Holding them is what keeps
the cost bounded: the fractions need every meter's power, once per control step instead
of once per meter per integration step.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

DAY_S = 86_400.0
CONTROL_S = 60.0
"""Simulated seconds the curtailed and shed fractions hold (the limits' control step)."""
_KEPT_STEPS = 4096


@dataclass(frozen=True)
class Fractions:
    """At one instant: the fraction of the PV meters' export curtailed and of the city's
    import shed (each in [0, 1])."""

    curtailed: float
    shed: float


def _flow_w(powers_w: Iterable[float], keep: float, unmetered_load_w: float = 0.0) -> float:
    """The feeder's share of some meters: ``(I + U − X (1 − λ)) / (1 − λ)``."""
    powers = list(powers_w)
    imports = sum(p for p in powers if p > 0)
    exports = -sum(p for p in powers if p < 0)
    return (imports + unmetered_load_w - exports * keep) / keep


def limit_fractions(
    powers_w: Mapping[str, float],
    curtailable: Iterable[str],
    sheddable: Iterable[str],
    *,
    export_limit_w: float,
    supply_cap_w: float | None,
    loss_fraction: float,
    unmetered_load_w: float = 0.0,
    separate_areas: bool = False,
) -> Fractions:
    """The curtailed and shed fractions for the meters' unlimited signed powers (import > 0).

    ``curtailable``: meters whose export an inverter can curtail (PV); ``sheddable``:
    the city's meters, whose import can be shed; ``supply_cap_w`` None: no cap.
    ``separate_areas``: the export limit binds the meters outside the city alone (with the
    unmetered load), and the campus's surplus does not reach the city.
    """
    keep = 1.0 - loss_fraction
    city = frozenset(sheddable)
    pv = frozenset(curtailable)
    pool = {m: p for m, p in powers_w.items() if not (separate_areas and m in city)}
    pv_export = -sum(p for m, p in pool.items() if m in pv and p < 0)
    curtailed = 0.0
    if pv_export > 0:
        imports = sum(p for p in pool.values() if p > 0)
        exports = -sum(p for p in pool.values() if p < 0)
        room = (imports + unmetered_load_w) / keep + export_limit_w - (exports - pv_export)
        curtailed = min(1.0, max(0.0, 1.0 - room / pv_export))

    def after(m: str, p: float) -> float:
        limited = m in pv and p < 0 and m in pool
        return p * (1.0 - curtailed) if limited else p

    city_import = sum(p for m, p in powers_w.items() if m in city and p > 0)
    shed = 0.0
    if supply_cap_w is not None and city_import > 0:
        campus_w = _flow_w(
            (after(m, p) for m, p in powers_w.items() if m not in city), keep, unmetered_load_w
        )
        city_w = _flow_w((after(m, p) for m, p in powers_w.items() if m in city), keep)
        surplus_w = 0.0 if separate_areas else max(0.0, -campus_w)
        over_w = city_w - surplus_w - supply_cap_w
        shed = min(1.0, max(0.0, over_w * keep / city_import))
    return Fractions(curtailed, shed)


def schedule_w(schedule: tuple[tuple[float, float], ...]) -> Callable[[float], float]:
    """The power of a ``((start_hour, W), ...)`` schedule at simulated instant ``t_s``
    (seconds since the first midnight; each value holds until the next start, wrapping)."""

    def at(t_s: float) -> float:
        hour = (t_s % DAY_S) / 3600.0
        value = schedule[-1][1]
        for start, power in schedule:
            if start <= hour:
                value = power
        return value

    return at


class GridLimits:
    """The limits of one microgrid over its meters' unlimited power functions.

    ``raw``: each meter's unlimited signed power at a simulated instant (0 with its relay
    open). :meth:`limited_w` is what a meter draws; the fractions of each control step
    are computed once and kept.
    """

    def __init__(
        self,
        raw: Mapping[str, Callable[[float], float]],
        curtailable: Iterable[str],
        sheddable: Iterable[str],
        *,
        export_limit_w: float,
        supply_cap_w: Callable[[float], float] | None,
        loss_fraction: float,
        unmetered_load_w: float = 0.0,
        separate_areas: bool = False,
    ) -> None:
        self.raw = dict(raw)
        self.separate_areas = separate_areas
        self.curtailable = frozenset(curtailable) & self.raw.keys()
        self.sheddable = frozenset(sheddable) & self.raw.keys()
        self.export_limit_w = export_limit_w
        self.supply_cap_w = supply_cap_w
        self.loss_fraction = loss_fraction
        self.unmetered_load_w = unmetered_load_w
        self._lock = threading.Lock()
        self._steps: dict[int, tuple[dict[str, float], Fractions]] = {}

    def at(self, t_s: float) -> tuple[dict[str, float], Fractions]:
        """(every meter's unlimited power at the middle of the control step holding
        ``t_s``, the fractions held through that step)."""
        step = math.floor(t_s / CONTROL_S)
        with self._lock:
            found = self._steps.get(step)
        if found is not None:
            return found
        mid_s = (step + 0.5) * CONTROL_S
        powers = {m: fn(mid_s) for m, fn in self.raw.items()}
        cap = None if self.supply_cap_w is None else self.supply_cap_w(mid_s)
        fractions = limit_fractions(
            powers,
            self.curtailable,
            self.sheddable,
            export_limit_w=self.export_limit_w,
            supply_cap_w=cap,
            loss_fraction=self.loss_fraction,
            unmetered_load_w=self.unmetered_load_w,
            separate_areas=self.separate_areas,
        )
        with self._lock:
            if len(self._steps) >= _KEPT_STEPS:
                self._steps.clear()
            self._steps[step] = (powers, fractions)
        return powers, fractions

    def cut_w(self, meter_id: str, t_s: float, power_w: float) -> float:
        """The power curtailed (+, at a PV meter) or shed (+, at a city meter) of a meter
        whose unlimited power at ``t_s`` is ``power_w``."""
        if meter_id in self.curtailable and power_w < 0:
            return -power_w * self.at(t_s)[1].curtailed
        if meter_id in self.sheddable and power_w > 0:
            return power_w * self.at(t_s)[1].shed
        return 0.0

    def limited_w(self, meter_id: str, t_s: float, power_w: float) -> float:
        """What a meter draws at ``t_s`` when unlimited it would draw ``power_w``."""
        cut = self.cut_w(meter_id, t_s, power_w)
        return power_w + cut if power_w < 0 else power_w - cut

    def energy_wh(self, start_s: float, end_s: float) -> tuple[dict[str, float], dict[str, float]]:
        """(Wh curtailed per PV meter, Wh shed per city meter) from ``start_s`` to ``end_s``:
        the cut power of each control step (its fraction of the meters' power at its
        middle) times the part of the step inside; only meters with energy > 0."""
        curtailed: dict[str, float] = {}
        shed: dict[str, float] = {}
        t = start_s
        while t < end_s:
            step_end = min(end_s, (math.floor(t / CONTROL_S) + 1) * CONTROL_S)
            h = (step_end - t) / 3600.0
            powers, f = self.at(t)
            for m in self.curtailable:
                if f.curtailed and powers[m] < 0:
                    curtailed[m] = curtailed.get(m, 0.0) - powers[m] * f.curtailed * h
            for m in self.sheddable:
                if f.shed and powers[m] > 0:
                    shed[m] = shed.get(m, 0.0) + powers[m] * f.shed * h
            t = step_end
        return curtailed, shed
