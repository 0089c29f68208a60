"""Energy between readings, derived only from the meters' cumulative counters."""

from __future__ import annotations

import logging

from bench.devices.reading import EnergyDelta, Reading
from bench.devices.wire import ENERGY_WRAP_MWH

log = logging.getLogger(__name__)


class EnergyTracker:
    """Turns successive readings of one meter into energy deltas.

    Counters wrap at 2^32 Wh (handled modulo) and survive reboots, so the delta across
    an outage or a reboot is still exact. A counter that goes backwards (a protocol
    violation) yields 0 and keeps the old baseline, so nothing is counted twice.
    """

    def __init__(self) -> None:
        self._last: dict[str, tuple[float, int, int, int]] = {}
        self.regressions = 0

    def update(self, r: Reading) -> EnergyDelta | None:
        """The energy since this meter's previous reading (``None`` for the first one)."""
        imp, exp = round(r.energy_import_wh * 1000), round(r.energy_export_wh * 1000)
        prev = self._last.get(r.meter_id)
        if prev is None:
            self._last[r.meter_id] = (r.t_s, imp, exp, r.boot_count)
            return None
        t0, imp0, exp0, boot0 = prev
        d_imp, imp = self._delta(r.meter_id, imp0, imp)
        d_exp, exp = self._delta(r.meter_id, exp0, exp)
        self._last[r.meter_id] = (r.t_s, imp, exp, r.boot_count)
        return EnergyDelta(r.meter_id, t0, r.t_s, d_imp / 1000, d_exp / 1000, boot0 != r.boot_count)

    def _delta(self, meter_id: str, old: int, new: int) -> tuple[int, int]:
        d = (new - old) % ENERGY_WRAP_MWH
        if d > ENERGY_WRAP_MWH // 2:
            self.regressions += 1
            log.warning(
                "%s: energy counter went back by %d mWh; ignored", meter_id, ENERGY_WRAP_MWH - d
            )
            return 0, old
        return d, new
