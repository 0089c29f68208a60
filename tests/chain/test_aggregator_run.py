"""A run with two market areas over emulated meters on a real Anvil: the city's shortfall
is covered by the campus's surplus through the aggregator, and every saver is paid its
share of the city revenue less the fee to the wei. The oracle is the chain: the trades
rebuilt from each settle transaction's calldata, their shares recomputed in exact
rationals, against every wallet's balance on chain."""

from __future__ import annotations

import sqlite3
from collections import Counter
from fractions import Fraction
from pathlib import Path

import pytest

from bench.attestation import meter_id_bytes32
from bench.chain import Anvil, Market
from bench.chain.audit import audit_interval
from bench.config import load_scenario
from bench.events import RunSummary
from bench.report.replay import replay
from bench.scenario.worker import ScenarioWorker
from bench.store import JournalRecorder

pytestmark = pytest.mark.chain

DEPOSIT_WEI = 50_000_000
FEE_BP = 500
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
deposit_wei = {deposit}

[grid]
import_schedule = [[0, 200]]
feed_in_wei_per_wh = 60

[aggregator]
fee_bp = {fee}

[[meters]]
id = "roof"
kind = "emulated"
power_w = -12000.0

[[meters]]
id = "roof2"
kind = "emulated"
power_w = -4000.0

[[meters]]
id = "dorm"
kind = "emulated"
power_w = 3000.0

[[meters]]
id = "home"
kind = "emulated"
power_w = 16000.0

[[meters]]
id = "feeder"
kind = "emulated"

[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"
offer_price_wei_per_wh = 50

[[participants]]
name = "roof2"
role = "prosumer"
meter = "roof2"
offer_price_wei_per_wh = 70

[[participants]]
name = "dorm"
role = "consumer"
meter = "dorm"
bid_price_wei_per_wh = 300

[[participants]]
name = "home"
role = "consumer"
meter = "home"
area = "city"
bid_price_wei_per_wh = 300
"""
SAVERS = ("roof", "roof2")


def _shares(pool_wei: int, delivered: Counter[str]) -> dict[str, int]:
    """Exact rational shares, floors plus the units left to the largest fractions."""
    whole = sum(delivered.values())
    quota = {n: Fraction(pool_wei * wh, whole) for n, wh in delivered.items()}
    floors = {n: int(q) for n, q in quota.items()}
    ranked = sorted(quota, key=lambda n: (floors[n] - quota[n], n))
    left = pool_wei - sum(floors.values())
    return {n: floors[n] + (n in ranked[:left]) for n in quota}


def test_the_city_shortfall_is_covered_through_the_aggregator(tmp_path: Path) -> None:
    with Anvil() as node:
        path = tmp_path / "bench.toml"
        path.write_text(CONFIG.format(url=node.url, deposit=DEPOSIT_WEI, fee=FEE_BP))
        worker = ScenarioWorker(load_scenario(path), recorders=[JournalRecorder(tmp_path)])
        worker.start()
        worker.join(timeout=240)
        assert not worker.is_alive() and worker.error is None
        summary = worker.summary
        assert isinstance(summary, RunSummary)
        assert summary.trades_rejected == 0 and summary.escrow_conserved and summary.audit_clean
        assert summary.attestation["aggregator"]["attestation"] == "bench"

        market = Market.attach(node.url, summary.market_address)
        fns = market.contract.functions
        names = ("roof", "roof2", "dorm", "home", "aggregator")
        wallet = {n: fns.meterOwner(meter_id_bytes32(n)).call() for n in names}
        name_of = {w: n for n, w in wallet.items()}
        grid = fns.meterOwner(meter_id_bytes32("feeder")).call()
        name_of[grid] = "grid"
        earned: Counter[str] = Counter()
        covered_wh = 0
        for i in range(1, summary.intervals + 1):
            trades = [
                t.__class__(name_of[t.buyer], name_of[t.seller], t.energy_wh, t.price_wei_per_wh)
                for t in audit_interval(market, i).settlement.settled_trades
            ]
            city = [t for t in trades if t.seller == "aggregator"]
            assert city and {t.buyer for t in city} == {"home"}
            covered_wh += sum(t.energy_wh for t in city)
            revenue = sum(t.value_wei for t in city)
            delivered: Counter[str] = Counter()
            for t in trades:
                if t.buyer == "aggregator":
                    delivered[t.seller] += t.energy_wh
                elif t.seller in SAVERS:
                    earned[t.seller] += t.value_wei  # the campus's own trades
            # the aggregator bought exactly what the city took, from both savers
            assert sum(delivered.values()) == sum(t.energy_wh for t in city)
            assert set(delivered) == set(SAVERS)
            fee = revenue * FEE_BP // 10_000
            for saver, wei in _shares(revenue - fee, delivered).items():
                earned[saver] += wei
            earned["aggregator"] += fee
        # the savers' 16 kW less the dorm's 3 kW, for 45 min: ~9,750 Wh into the city
        assert covered_wh == pytest.approx(9750, abs=10)
        for n in (*SAVERS, "aggregator"):
            assert fns.balanceOf(wallet[n]).call() - DEPOSIT_WEI == earned[n], n
        bought, sold, attested_import, attested_export = fns.energyOf(wallet["aggregator"]).call()
        assert bought == sold == covered_wh
        assert bought <= attested_import and sold <= attested_export

        verdict = replay(summary.journal_path or "")
        assert verdict.chain_checked == node.url and verdict.clean, verdict.audit.messages()

        # a wei of roof's pass-through in interval 2 paid to roof2 instead, in the
        # journal's trade and amount rows alike (each value still energy x price)
        with sqlite3.connect(summary.journal_path or "") as db:
            for table in ("trade", "amount"):
                for seller, step in (("roof", -1), ("roof2", 1)):
                    db.execute(
                        f"UPDATE {table} SET price_wei_per_wh = price_wei_per_wh + ? WHERE "
                        "rowid = (SELECT MIN(rowid) FROM " + table + " WHERE interval_id = 2 "
                        "AND buyer = 'aggregator' AND seller = ?)",
                        (step, seller),
                    )
                if table == "amount":
                    db.execute(
                        "UPDATE amount SET value_wei = CAST(energy_wh * price_wei_per_wh AS TEXT)"
                    )
        tampered = replay(summary.journal_path or "")
        kinds = {(f.kind, f.interval_id) for f in tampered.audit.findings}
        assert ("pass_through_mismatch", 2) in kinds, tampered.audit.messages()
