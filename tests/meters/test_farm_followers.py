"""A relay switched over the wire steps the flow a following meter (the feeder) draws at
that instant: the farm integrates the followers up to the switch first.

On a clock the test holds still, the switch lands at a known simulated instant; the
oracle is the closed form (3 kW for the first hour, 2 kW after). Without the followers
integrated at the switch (the mutation) the feeder counts the first hour at 2 kW.
"""

from __future__ import annotations

import pytest

from bench.config import MeterConfig
from bench.devices.firmata_meter import FirmataMeter
from bench.emulator import EmulatedMeter, MeterFarm
from bench.rig.emulated import EmulatedLoad


def test_a_relay_switch_steps_the_feeder_at_its_instant() -> None:
    now = [0.0]
    with MeterFarm(sim_clock=lambda: now[0]) as farm:
        a = farm.add(EmulatedMeter("a", power_w=1000.0))
        b = farm.add(EmulatedMeter("b", power_w=2000.0))
        feeder = farm.add(EmulatedMeter("feeder"))
        loads = [EmulatedLoad(m, MeterConfig(m.name, kind="emulated")) for m in (a, b)]
        feeder.follow(lambda t: sum(load.power_at(t) for load in loads))
        now[0] = 3600.0
        with FirmataMeter.open(a.port, reset_wait_s=0.0) as meter:
            meter.set_relay(False)  # at simulated 3,600 s: the clock stands still
        now[0] = 7200.0
        import_wh, _ = feeder.energy_wh()
    assert import_wh == pytest.approx(3000.0 + 2000.0, abs=0.01)
