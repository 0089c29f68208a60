"""A run with the city grid at a meter-signed feeder: the grid's purchases of the campus
surplus settle, backed on chain by the feeder's own counters (the oracle: the market's
grid meter, its signer and the grid's attested energy, read from the chain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chain import Anvil, Market
from bench.config import load_scenario
from bench.events import RunSummary
from bench.scenario.worker import ScenarioWorker

pytestmark = pytest.mark.chain

CONFIG = """
[bench]
reading_interval_s = 0.05

[scenario]
market_interval_s = 900
intervals = 3
speed = 3600
feeder_meter = "feeder"

[market]
loss_fraction = 0.02

[chain]
url = "{url}"
deposit_wei = 50000000

[grid]
import_schedule = [[0, 200]]
feed_in_wei_per_wh = 60

[[meters]]
id = "roof"
kind = "emulated"
power_w = -12000.0

[[meters]]
id = "flat"
kind = "emulated"
power_w = 3000.0

[[meters]]
id = "feeder"
kind = "emulated"

[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"
offer_price_wei_per_wh = 50

[[participants]]
name = "flat"
role = "consumer"
meter = "flat"
bid_price_wei_per_wh = 300
"""


def _run(tmp_path: Path, text: str) -> RunSummary:
    path = tmp_path / "bench.toml"
    path.write_text(text)
    worker = ScenarioWorker(load_scenario(path))
    worker.start()
    worker.join(timeout=180)
    assert not worker.is_alive()
    summary = worker.summary
    assert isinstance(summary, RunSummary)
    return summary


def test_the_grid_buys_the_surplus_backed_by_the_meter_signed_feeder(tmp_path: Path) -> None:
    with Anvil() as node:
        summary = _run(tmp_path, CONFIG.format(url=node.url))
        assert summary.attestation["feeder"]["attestation"] == "meter"
        market = Market.attach(node.url, summary.market_address)
        contract = market.contract.functions
        assert contract.gridMeterId().call().rstrip(b"\0") == b"feeder"
        assert market.registry.signer("feeder") == summary.attestation["feeder"]["signer"]
        # the audit's 2 % losses plus its tolerance: the allowance that lets the grid buy
        # what the sellers' meters exported (at this speed the feeder's signed reading,
        # taken after the cut, is ahead by more than the losses; the Anvil test needs it)
        assert contract.gridLossAllowanceBp().call() == 250
        grid = contract.meterOwner(contract.gridMeterId().call()).call()
        bought, _, attested_import, _ = contract.energyOf(grid).call()
        # roof exports 12 kW, flat draws 3 kW: the grid buys the ~9 kW surplus
        assert bought > 1000 and bought <= attested_import
        assert summary.trades_rejected == 0 and summary.audit_clean


def test_with_no_local_market_the_utility_settles_at_every_meter_bench_attested(
    tmp_path: Path,
) -> None:
    """``mechanism = "utility"``: the grid buys every export and sells every import, so its
    counters are the sum of every meter's, which no meter signs: the bench attests them,
    and no grid meter is registered (the mutation: registering the feeder as one)."""
    with Anvil() as node:
        text = CONFIG.format(url=node.url)
        summary = _run(tmp_path, text.replace("[market]\n", '[market]\nmechanism = "utility"\n'))
        assert summary.attestation["feeder"]["attestation"] == "bench"
        assert summary.trades_settled > 0 and summary.trades_rejected == 0
        assert summary.audit_clean
        market = Market.attach(node.url, summary.market_address)
        contract = market.contract.functions
        assert contract.gridMeterId().call().rstrip(b"\0") == b""  # no grid meter registered
        grid = contract.meterOwner(b"feeder".ljust(32, b"\0")).call()
        bought, sold, _, _ = contract.energyOf(grid).call()
        # 3 intervals of 15 min: roof's 12 kW all bought (9,000 Wh), flat's 3 kW all sold
        assert bought == pytest.approx(9000, abs=3) and sold == pytest.approx(2250, abs=3)
