"""Curtailment at the feeder's export limit and shedding at the substation's supply cap:
the closed forms against a bisection on the feeder's own flow, then emulated meters."""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from bench.config import MeterConfig, parse_bench_config
from bench.emulator import EmulatedMeter, MeterFarm
from bench.errors import ConfigError
from bench.rig import GridLimits, Rig, feeder_power_w, limit_fractions, schedule_w
from bench.rig.emulated import EmulatedLoad
from bench.rig.feeder import FeederDriver


def _bisect(feasible: Callable[[float], bool], *, largest: bool) -> float:
    """The largest (or smallest) x in [0, 1] with ``feasible(x)``, feasibility monotone."""
    if feasible(1.0 if largest else 0.0):
        return 1.0 if largest else 0.0
    lo, hi = 0.0, 1.0
    for _ in range(100):
        mid = (lo + hi) / 2
        if feasible(mid) == largest:
            lo = mid
        else:
            hi = mid
    return lo if largest else hi


CASES = random.Random(16)


@pytest.mark.parametrize("separate", [False, True])
@pytest.mark.parametrize("case", range(30))
def test_the_fractions_are_the_feeder_flows_own_limits(case: int, separate: bool) -> None:
    """Oracle: bisection on ``feeder_power_w`` of each area's limited powers (no closed
    form): the export limit on the whole feeder (the campus's alone with ``separate``),
    the cap on the city's share less the campus's surplus (none with ``separate``)."""
    rng = CASES
    pv = {f"pv{i}": -rng.uniform(0, 80_000) for i in range(3)}
    pv["pv3"] = rng.uniform(0, 5_000)  # a PV meter importing at night: nothing to curtail
    campus = {f"c{i}": rng.uniform(0, 30_000) for i in range(3)}
    city = {f"t{i}": rng.uniform(0, 60_000) for i in range(4)}
    battery = {"store": rng.uniform(-20_000, 20_000)}
    powers = {**pv, **campus, **city, **battery}
    loss, theft = rng.choice([0.0, 0.02, 0.05]), rng.choice([0.0, 1_500.0])
    limit_w = rng.uniform(0, 60_000)
    cap_w = rng.uniform(0, 150_000)
    got = limit_fractions(
        powers,
        pv,
        city,
        export_limit_w=limit_w,
        supply_cap_w=cap_w,
        loss_fraction=loss,
        unmetered_load_w=theft,
        separate_areas=separate,
    )

    def flows(keep_pv: float, keep_city: float) -> tuple[float, float]:
        """(the campus's share of the feeder, theft included; the city's)."""
        limited = {
            m: p * (keep_pv if m in pv and p < 0 else keep_city if m in city and p > 0 else 1)
            for m, p in powers.items()
        }
        campus_w = feeder_power_w([p for m, p in limited.items() if m not in city], loss, theft)
        city_w = feeder_power_w([p for m, p in limited.items() if m in city], loss, 0.0)
        return campus_w, city_w

    def exported_w(keep_pv: float) -> float:
        campus_w, city_w = flows(keep_pv, 1.0)
        return -campus_w if separate else -(campus_w + city_w)

    def supplied_w(keep_pv: float, shed: float) -> float:  # by the substation to the city
        campus_w, city_w = flows(keep_pv, 1.0 - shed)
        return city_w - (0.0 if separate else max(0.0, -campus_w))

    keep_pv = _bisect(lambda k: exported_w(k) <= limit_w, largest=True)
    assert got.curtailed == pytest.approx(1.0 - keep_pv, abs=1e-9)
    shed = _bisect(lambda s: supplied_w(keep_pv, s) <= cap_w, largest=False)
    assert got.shed == pytest.approx(shed, abs=1e-9)
    # the limited flows themselves: at the limit when a fraction binds inside (0, 1)
    if 0 < got.curtailed < 1:
        assert exported_w(1.0 - got.curtailed) == pytest.approx(limit_w)
    if 0 < got.shed < 1:
        assert supplied_w(1.0 - got.curtailed, got.shed) == pytest.approx(cap_w)


def test_the_supply_cap_schedule_holds_each_value_until_the_next_and_wraps() -> None:
    cap = schedule_w(((0.0, 800_000), (17.5, 300_000), (22.0, 800_000)))
    assert cap(17.49 * 3600) == 800_000
    assert cap(17.5 * 3600) == 300_000
    assert cap(86_400 + 18 * 3600) == 300_000  # day 1, 18:00
    assert cap(23 * 3600) == 800_000


def test_emulated_meters_curtail_and_shed_and_the_feeder_measures_the_limits() -> None:
    """Noon: 60 kW of PV, 10 kW of campus load, 20 kW in the city, a 25 kW export limit:
    the PV exports only (10 + 20) / (1 − λ) + 25 kW. Evening: no PV, the city draws 50 kW
    and the campus 10 kW; the substation gives the city at most 40 kW. One simulated
    hour each; the feeder's and the meters' counters (Wh) against the closed form, and
    the energy the limits report."""
    loss = 0.02
    now = [12 * 3600.0]
    with MeterFarm(sim_clock=lambda: now[0]) as farm:
        meters = {
            "roof": farm.add(EmulatedMeter("roof", power_w=-60_000.0)),
            "dorm": farm.add(EmulatedMeter("dorm", power_w=10_000.0)),
            "shop": farm.add(EmulatedMeter("shop", power_w=20_000.0)),
        }
        feeder = farm.add(EmulatedMeter("feeder"))
        loads = {m: EmulatedLoad(meter, MeterConfig(m)) for m, meter in meters.items()}
        limits = GridLimits(
            {m: load.unlimited_power_at for m, load in loads.items()},
            ["roof"],
            ["shop"],
            export_limit_w=25_000.0,
            supply_cap_w=schedule_w(((0.0, 1_000_000), (18.0, 40_000))),
            loss_fraction=loss,
        )
        for m in ("roof", "shop"):
            loads[m].limit(lambda t, p, m=m: limits.limited_w(m, t, p))
        driver = FeederDriver(
            EmulatedLoad(feeder, MeterConfig("feeder")),
            list(loads.values()),
            loss_fraction=loss,
            unmetered_load_w=0.0,
            period_s=3600.0,
        )
        with driver:
            start = {m: meter.energy_wh() for m, meter in meters.items()}
            feeder_start = feeder.energy_wh()
            t0 = now[0]
            now[0] = t0 + 3600.0
            noon = {m: meter.energy_wh() for m, meter in meters.items()}
            feeder_noon = feeder.energy_wh()
            noon_limited = limits.energy_wh(t0, t0 + 3600.0)
            loads["roof"].set_power(0.0)
            loads["shop"].set_power(50_000.0)
            now[0] = 18 * 3600.0
            feeder_18 = feeder.energy_wh()
            shop_18 = meters["shop"].energy_wh()
            now[0] = 19 * 3600.0
            feeder_19 = feeder.energy_wh()
            shop_19 = meters["shop"].energy_wh()
            evening_limited = limits.energy_wh(18 * 3600.0, 19 * 3600.0)

    pv_export_w = 30_000 / (1 - loss) + 25_000
    assert noon["roof"][1] - start["roof"][1] == pytest.approx(pv_export_w, rel=1e-9)
    assert feeder_noon[1] - feeder_start[1] == pytest.approx(25_000.0, rel=1e-9)  # at the limit
    assert noon_limited[0] == {"roof": pytest.approx(60_000 - pv_export_w)}
    assert noon_limited[1] == {}
    # evening: the city's share shop' / (1 − λ) ≤ 40 kW → the shop draws 40 (1 − λ) kW;
    # the campus's 10 kW comes through the feeder too, uncapped
    shop_w = 40_000 * (1 - loss)
    assert feeder_19[0] - feeder_18[0] == pytest.approx(40_000.0 + 10_000 / (1 - loss))
    assert shop_19[0] - shop_18[0] == pytest.approx(shop_w, rel=1e-9)
    assert evening_limited == ({}, {"shop": pytest.approx(50_000 - shop_w)})


def test_the_limits_need_emulated_meters() -> None:
    bench = parse_bench_config(
        {"meters": [{"id": "roof", "kind": "fake"}, {"id": "dorm", "kind": "fake"}]}
    )
    with Rig(bench) as rig, pytest.raises(ConfigError, match="dorm, roof are not emulated"):
        rig.limit_grid(
            ["roof", "dorm"],
            ["roof"],
            [],
            export_limit_w=0.0,
            supply_cap_w=None,
            loss_fraction=0.0,
            unmetered_load_w=0.0,
        )
