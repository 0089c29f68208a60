"""A run with the city grid at a meter-signed feeder: the grid's purchases of the campus
surplus settle, backed on chain by the feeder's own counters (the oracle: the market's
grid meter, its signer and the grid's attested energy, read from the chain)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chain import Anvil, Market
from bench.store import Journal
from tests.configs import consumer, meter_block, prosumer, run_config
from tests.worker_runs import run_worker

pytestmark = pytest.mark.chain


def _config(url: str, **market: str | float) -> str:
    """The campus exports 9 kW past its feeder; the grid sells at 200 wei/Wh and buys at 60."""
    return run_config(
        intervals=3,
        scenario={"feeder_meter": "feeder"},
        sections={
            "market": {"loss_fraction": 0.02, **market},
            "chain": {"url": url, "deposit_wei": 50000000},
            "grid": {"import_schedule": [[0, 200]], "feed_in_wei_per_wh": 60},
        },
        meters=[
            meter_block("roof", "emulated", -12000.0),
            meter_block("flat", "emulated", 3000.0),
            meter_block("feeder", "emulated"),
        ],
        participants=[prosumer("roof", 50), consumer("flat", 300)],
    )


def test_the_grid_buys_the_surplus_backed_by_the_meter_signed_feeder(tmp_path: Path) -> None:
    with Anvil() as node:
        summary = run_worker(_config(node.url), tmp_path, journal=True, timeout_s=180).summary
        # the journal's totals hold the feeder's energy under the grid, the participant
        # its counters settle under: the lines' physics (F = imports - exports + losses of
        # 2 % of what is injected, solved for F) applied to the other meters' totals
        journal = Journal(summary.journal_path or "", read_only=True)
        totals = journal.energy_totals_wh()
        journal.close()
        assert "feeder" not in totals
        exports_wh, imports_wh = totals["roof"][1], totals["flat"][0]
        expected_export_wh = (exports_wh - imports_wh - 0.02 * exports_wh) / 0.98
        assert totals["grid"][0] == 0.0
        assert totals["grid"][1] == pytest.approx(expected_export_wh, rel=0.02)
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
        text = _config(node.url, mechanism="utility")
        summary = run_worker(text, tmp_path, timeout_s=180).summary
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
