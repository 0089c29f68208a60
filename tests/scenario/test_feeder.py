"""The emulated feeder's flow closes the audit's energy balance; theft is what remains."""

from __future__ import annotations

import pytest

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
        port = 'port = "/dev/null"\n' if kind == "firmata" else ""
        text = (
            f'[[meters]]\nid = "m"\nkind = "{kind}"\n{port}'
            '[[participants]]\nname = "p"\nmeter = "m"\n'
            f"[scenario]\nspeed = {speed}\n"
        )
        return parse_scenario(tomllib.loads(text)).audit_policy

    default = AuditPolicy().tolerance_fraction
    # a board's readings carry no meter time: cut by arrival, uncertain × speed
    real_time, fast = policy("firmata", 1), policy("firmata", 3600)
    assert real_time.tolerance_fraction == pytest.approx(default + READING_TIME_UNCERTAINTY_S / 900)
    assert fast.tolerance_fraction == pytest.approx(
        default + 3600 * READING_TIME_UNCERTAINTY_S / 900
    )
    assert fast.loss_fraction == real_time.loss_fraction == 0.02
    # emulated meters are cut on their own clock: the meters' accuracy alone, at any speed
    assert policy("emulated", 3600).tolerance_fraction == default
