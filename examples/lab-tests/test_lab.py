"""A lab's own HIL tests of its bench config, written against gridbench's pytest plugin.

Run: ``pytest`` here (emulated meters, a local Anvil), or ``pytest --meter-port
/dev/ttyACM0`` with the config's meters on real boards.
"""

from __future__ import annotations

import queue

import pytest


def test_every_participant_is_funded_with_its_deposit(market, bench_config) -> None:
    names = [p.agent.participant for p in bench_config.participants]
    assert market.accounts.balances_wei(names) == dict.fromkeys(names, bench_config.deposit_wei)


def test_the_sellers_meter_reports_export(meters) -> None:
    readings: queue.Queue[object] = queue.Queue()
    with meters.poller("roof", readings).start():
        reading = readings.get(timeout=20)
        while not hasattr(reading, "power_w"):  # link events come first
            reading = readings.get(timeout=20)
    assert reading.meter_id == "roof"
    assert reading.power_w == pytest.approx(-8000.0, rel=0.05)


def test_two_intervals_settle_what_was_cleared(run_scenario) -> None:
    run = run_scenario(intervals=2)
    assert run.summary.intervals == 2
    assert run.summary.escrow_conserved and run.report.audit.clean
    # The replayed journal settles exactly what the live run settled.
    assert sum(r.value_settled_wei for r in run.report.rows) == run.summary.value_settled_wei
    # Sellers' offers at 80 wei/Wh and bids at 250 and 300 clear in between.
    for row in run.report.rows:
        assert row.price_wei_per_wh is not None and 80 <= row.price_wei_per_wh <= 300


def test_a_mechanism_override_reaches_the_run(run_scenario) -> None:
    run = run_scenario(intervals=1, mechanism="pay_as_bid")
    assert run.config.market.mechanism == "pay_as_bid"
    assert run.config.overrides == (("market.mechanism", "pay_as_bid"), ("scenario.intervals", 1))


@pytest.mark.hil
def test_a_real_board_answers(meters, bench_config) -> None:
    real = [m.meter_id for m in bench_config.bench.meters if m.kind in ("firmata", "generic")]
    assert real, "give the config a firmata or generic meter for the hardware run"
    assert all(meters.url(m) for m in real)
