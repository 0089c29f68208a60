"""The emulated feeder's flow closes the audit's energy balance; theft is what remains."""

from __future__ import annotations

import pytest

from bench.errors import ConfigError
from bench.rig import feeder_power_w
from bench.scenario.agents import MeteredEnergy
from pricing import AuditPolicy, Clearing, IntervalRecord, audit


@pytest.mark.parametrize("theft_w", [0.0, 1500.0])
@pytest.mark.parametrize("powers_w", [[3000.0, -8000.0, 2500.0], [4000.0, 1000.0, -500.0]])
def test_feeder_flow_leaves_exactly_the_unmetered_load(
    powers_w: list[float], theft_w: float
) -> None:
    hours = 0.25
    policy = AuditPolicy(loss_fraction=0.02)
    feeder_wh = feeder_power_w(powers_w, policy.loss_fraction, theft_w) * hours
    metered = [
        MeteredEnergy(f"p{i}", max(p, 0.0) * hours, max(-p, 0.0) * hours)
        for i, p in enumerate(powers_w)
    ]
    record = IntervalRecord(1, metered, Clearing(None, 0, ()), [], feeder_import_wh=feeder_wh)
    (balance,) = audit([record], policy).balances
    assert balance.unexplained_wh == pytest.approx(theft_w * hours)
    assert balance.flagged == (theft_w > 0)


def test_balance_tolerance_widens_with_the_clock_speed_only_for_meters_cut_by_arrival() -> None:
    import tomllib

    from bench.config import parse_scenario
    from bench.config.model import READING_TIME_UNCERTAINTY_S

    def policy(kind: str, speed: int) -> AuditPolicy:
        port = 'port = "/dev/null"\n' if kind in ("firmata", "sdm120") else ""
        text = (
            f'[[meters]]\nid = "m"\nkind = "{kind}"\n{port}'
            '[[participants]]\nname = "p"\nmeter = "m"\n'
            f"[scenario]\nspeed = {speed}\n"
        )
        return parse_scenario(tomllib.loads(text)).audit_policy

    default = AuditPolicy().tolerance_fraction
    # a Modbus meter (sdm120) is polled: cut by arrival, uncertain × speed
    real_time, fast = policy("sdm120", 1), policy("sdm120", 3600)
    assert real_time.tolerance_fraction == pytest.approx(default + READING_TIME_UNCERTAINTY_S / 900)
    assert fast.tolerance_fraction == pytest.approx(
        default + 3600 * READING_TIME_UNCERTAINTY_S / 900
    )
    assert fast.loss_fraction == real_time.loss_fraction == 0.02
    # emulated meters and boards are cut on their own clock: the meters' accuracy alone
    assert policy("emulated", 3600).tolerance_fraction == default
    assert policy("firmata", 3600).tolerance_fraction == default


def test_the_emulated_feeder_counts_the_true_flow_through_a_ramp_and_a_step_when_starved() -> None:
    """The feeder's counters equal the integral of the microgrid's flow (feeder_power_w
    of the other meters' powers at each instant) over a PV ramp and a load step, with
    its driver never running in between (a starved thread): the oracle integrates the
    loads' known powers by a 1 s trapezoid sum, the emulator by its own steps."""
    import itertools

    from bench.config import MeterConfig
    from bench.emulator import EmulatedMeter, MeterFarm, Profile
    from bench.rig.emulated import EmulatedLoad
    from bench.rig.feeder import FeederDriver, feeder_power_w

    now = [9 * 3600.0]
    spec = "pv*3"
    pv_profile = Profile.parse(spec)
    with MeterFarm(sim_clock=lambda: now[0]) as farm:
        pv = farm.add(EmulatedMeter("pv", Profile.parse(spec)))
        load = farm.add(EmulatedMeter("load", power_w=2000.0))
        feeder = farm.add(EmulatedMeter("feeder"))
        loads = [
            EmulatedLoad(pv, MeterConfig("pv", profile=spec)),
            EmulatedLoad(load, MeterConfig("load", power_w=2000.0)),
        ]
        driver = FeederDriver(
            EmulatedLoad(feeder, MeterConfig("feeder")),
            loads,
            loss_fraction=0.02,
            unmetered_load_w=100.0,
            period_s=3600.0,  # never updates on its own within the test
        )
        with driver:
            start_imp, start_exp = feeder.energy_wh()
            t0 = now[0]
            now[0] = t0 + 1800.0  # half an hour of ramp, no update meanwhile
            loads[1].set_power(5000.0)  # a step: the feeder is integrated up to it first
            now[0] = t0 + 3600.0
            imp, exp = feeder.energy_wh()

    def flow_w(t: float) -> float:
        load_w = 2000.0 if t < t0 + 1800.0 else 5000.0
        return feeder_power_w([pv_profile.power_at(t), load_w], 0.02, 100.0)

    ts = [t0 + k for k in range(3601)]
    want_wh = sum((flow_w(a) + flow_w(b)) / 2 for a, b in itertools.pairwise(ts)) / 3600
    got_wh = (imp - start_imp) - (exp - start_exp)
    # the step's own second is split by the trapezoid: ≤ 3 kW·0.5 s
    assert got_wh == pytest.approx(want_wh, abs=0.5)


def test_the_balance_tolerance_is_the_least_accurate_meters_declared_accuracy() -> None:
    import tomllib

    from bench.config import parse_scenario

    def policy(accuracies: list[float | None]) -> AuditPolicy:
        text = "".join(
            f'[[meters]]\nid = "m{i}"\nkind = "emulated"\n'
            + ("" if a is None else f"accuracy_fraction = {a}\n")
            + f'[[participants]]\nname = "p{i}"\nmeter = "m{i}"\n'
            for i, a in enumerate(accuracies)
        )
        return parse_scenario(tomllib.loads(text)).audit_policy

    assert policy([None, None]).tolerance_fraction == 0.005  # class 0.5 by default
    assert policy([None, 0.01]).tolerance_fraction == 0.01  # one class 1 meter widens it
    assert policy([0.002, 0.002]).tolerance_fraction == 0.002  # class 0.2 meters narrow it
    # 0.8 % of 10 kWh injected unexplained: beyond class 0.5 meters, within class 1
    metered = [MeteredEnergy("pv", 0.0, 10_000.0), MeteredEnergy("load", 9_720.0, 0.0)]
    record = IntervalRecord(1, metered, Clearing(None, 0, ()), [], feeder_import_wh=0.0)
    for accuracies, flagged in (([0.005], True), ([0.01], False)):
        found = policy(accuracies)
        (balance,) = audit([record], AuditPolicy(0.02, 0.0, found.tolerance_fraction)).balances
        assert balance.unexplained_wh == pytest.approx(80.0) and balance.flagged == flagged
    bad = '[[meters]]\nid = "m"\nkind = "emulated"\naccuracy_fraction = nan\n'
    with pytest.raises(ConfigError, match="accuracy_fraction"):
        parse_scenario(tomllib.loads(bad + '[[participants]]\nname = "p"\nmeter = "m"\n'))


def test_the_feeder_s_energy_is_journaled_under_the_participant_it_settles_under() -> None:
    """A live catch-up of the feeder (the fleet's name for it) and one a resume takes from
    the chain (the settlement's) go under one name: the grid's, whose counters the
    settlement backs with the feeder meter (the mutation: the fleet naming the feeder by
    its meter id, as before)."""
    import queue
    import tomllib

    from bench.config import parse_scenario
    from bench.scenario.fleet import MeterFleet
    from tests.configs import consumer, meter_block, prosumer, run_config

    text = run_config(
        intervals=1,
        scenario={"feeder_meter": "feeder"},
        sections={"grid": {"import_schedule": [[0, 200]], "feed_in_wei_per_wh": 60}},
        meters=[
            meter_block("roof", "emulated", -12000.0),
            meter_block("flat", "emulated", 3000.0),
            meter_block("feeder", "emulated"),
        ],
        participants=[prosumer("roof", 50), consumer("flat", 300)],
    )
    config = parse_scenario(tomllib.loads(text))
    on_chain = {meter: name for name, meter in config.participant_meters.items()}
    fleet = MeterFleet(config, queue.Queue(), rig=None, pollers={})  # type: ignore[arg-type]
    for meter in ("roof", "flat", "feeder"):
        assert fleet.participant_of(meter) == config.meter_owners[meter] == on_chain[meter]
    assert on_chain["feeder"] == "grid"
