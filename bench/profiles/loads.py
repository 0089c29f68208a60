"""Calendar-aware load models: one unit's power over a day, by kind, day kind and weekday.

``P(h) = units · peak_w · (base + (1 − base) · occupancy · shape(h))``: ``base`` is the
standby share (servers, freezers, corridor lights), ``shape`` the daily activity curve
(linear between the hourly points below), ``occupancy`` how many are there that day. The
campus kinds follow the calendar (a dorm empties in the vacation, labs keep their
freezers running), the city kinds the weekday (shops close on Sunday) and holidays.
Generated models (no measured data), in the spirit of the bundled CSV profiles.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np

SUNDAY = 6


@dataclass(frozen=True)
class LoadModel:
    """One kind of load: its unit's peak, standby share and daily activity curve."""

    peak_w: float
    base: float
    shape: tuple[tuple[float, float], ...]
    """(hour, fraction of peak activity) from 0 to 24."""
    occupancy: dict[str, float]
    """By day kind (term, vacation, holiday); missing kinds count as term."""
    weekend_occupancy: float | None = None
    """Occupancy on Saturday and Sunday of a term day (None: as on a weekday)."""
    sunday_occupancy: float | None = None
    """Occupancy on a Sunday whatever the day kind (None: as on other days)."""

    def occupancy_on(self, day_kind: str, weekday: int) -> float:
        """How much of the unit is in use on a day of ``day_kind`` and ``weekday`` (Mon 0)."""
        if self.sunday_occupancy is not None and weekday == SUNDAY:
            return self.sunday_occupancy
        if day_kind == "term" and self.weekend_occupancy is not None and weekday >= 5:
            return self.weekend_occupancy
        return self.occupancy.get(day_kind, self.occupancy["term"])

    def power_w(self, hours: np.ndarray, day_kind: str, weekday: int) -> np.ndarray:
        """One unit's power at ``hours`` (0…24) of such a day."""
        hs, fs = zip(*self.shape, strict=True)
        activity = np.interp(hours, hs, fs)
        occupancy = self.occupancy_on(day_kind, weekday)
        return self.peak_w * (self.base + (1.0 - self.base) * occupancy * activity)


MODELS: dict[str, LoadModel] = {
    "dorm": LoadModel(  # per resident: fans and coolers in the hot season, evening peak
        peak_w=300.0,
        base=0.1,
        shape=(
            (0, 0.55),
            (6, 0.4),
            (8, 0.6),
            (10, 0.25),
            (17, 0.3),
            (20, 0.9),
            (23, 0.75),
            (24, 0.55),
        ),
        occupancy={"term": 1.0, "vacation": 0.12, "holiday": 0.6},
    ),
    "lab": LoadModel(  # per lab: equipment in working hours, freezers and servers always
        peak_w=6000.0,
        base=0.3,
        shape=(
            (0, 0),
            (8, 0),
            (9, 0.9),
            (13, 1),
            (14, 0.8),
            (18, 0.9),
            (20, 0.2),
            (22, 0),
            (24, 0),
        ),
        occupancy={"term": 1.0, "vacation": 0.35, "holiday": 0.1},
        weekend_occupancy=0.3,
    ),
    "library": LoadModel(  # per building: lights and cooling while open
        peak_w=40_000.0,
        base=0.15,
        shape=((0, 0), (7, 0), (8, 0.6), (11, 1), (17, 1), (21, 0.8), (22, 0), (24, 0)),
        occupancy={"term": 1.0, "vacation": 0.3, "holiday": 0.0},
        weekend_occupancy=0.7,
    ),
    "household": LoadModel(  # per household: morning and evening peaks, every day alike
        peak_w=1500.0,
        base=0.15,
        shape=(
            (0, 0.25),
            (5, 0.2),
            (7, 0.55),
            (9, 0.35),
            (12, 0.4),
            (15, 0.35),
            (18, 0.7),
            (20, 1),
            (22, 0.75),
            (24, 0.25),
        ),
        occupancy={"term": 1.0},
    ),
    "shop": LoadModel(  # per shop: open 10:00–21:00, mostly shut on Sunday and holidays
        peak_w=2500.0,
        base=0.1,
        shape=((0, 0), (9, 0), (10, 0.8), (14, 1), (18, 0.9), (21, 1), (22, 0), (24, 0)),
        occupancy={"term": 1.0, "holiday": 0.5},
        sunday_occupancy=0.2,
    ),
    "clinic": LoadModel(  # per clinic: open day and evening, emergency room always
        peak_w=10_000.0,
        base=0.4,
        shape=((0, 0.2), (7, 0.3), (8, 0.9), (13, 1), (20, 0.8), (22, 0.3), (24, 0.2)),
        occupancy={"term": 1.0, "holiday": 0.7},
    ),
}
"""Every kind ``[[loads]]`` may name (``bench.config.tables.LOAD_KINDS``)."""


def load_power_w(
    kind: str,
    hours: np.ndarray,
    date: dt.date,
    day_kind: str,
    *,
    units: float = 1.0,
    peak_w: float | None = None,
) -> np.ndarray:
    """``units`` loads of ``kind`` at ``hours`` of ``date`` (a ``day_kind`` day), W."""
    model = MODELS[kind]
    one = model.power_w(hours, day_kind, date.weekday())
    scale = 1.0 if peak_w is None else peak_w / model.peak_w
    return units * scale * one
