"""Meter-signed readings and signed orders at the scenario's chain boundary, on Anvil.

The oracle for "meter-signed" is the chain itself (the registry's signer, the recorded
counters, the ReadingAccepted events) and the meter's public key read over the wire and
hashed here (keccak of X || Y), not the bench's own bookkeeping.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest
from eth_account import Account
from eth_utils import keccak, to_checksum_address

from bench.attestation import meter_id_bytes32
from bench.chain import Anvil, Market
from bench.chain.events import decode_log, topic
from bench.chain.keys import save_key
from bench.config import load_scenario, parse_scenario
from bench.events import MeteredEnergy
from bench.scenario.clock import SimClock
from bench.scenario.fleet import MeterFleet
from bench.scenario.settlement import ChainSession
from pricing import Order, Side, Trade
from tests.configs import consumer, meter_block, prosumer, run_config
from tests.worker_runs import run_worker

pytestmark = pytest.mark.chain


def _config(
    url: str,
    *,
    intervals: int = 1,
    operator_key_file: str | None = None,
    flat_key_file: str | None = None,
) -> str:
    """Two emulated meters that sign their readings and a fake one the bench attests."""
    return run_config(
        intervals=intervals,
        sections={
            "chain": {
                "url": url,
                "deposit_wei": 50000000,
                "operator_key_file": operator_key_file,
            }
        },
        meters=[
            meter_block("roof", "emulated", -12000.0),
            meter_block("flat", "emulated", 3000.0),
            meter_block("shed", "fake", 2000.0),
        ],
        participants=[
            prosumer("roof", 80),
            consumer("flat", 300, key_file=flat_key_file),
            consumer("shed", 250),
        ],
    )


def _silent(*_: object) -> None:
    return None


def _wire_address(fleet: MeterFleet, meter_id: str) -> str:
    """The meter's address from its public key read over the wire, hashed here."""
    public = fleet.submit(meter_id, lambda m: m.signer_public_key()).result(5)  # type: ignore[attr-defined]
    return to_checksum_address(keccak(public)[-20:])


def test_emulated_meters_settle_meter_signed_readings_and_tampering_is_rejected() -> None:
    with Anvil() as node:
        config = parse_scenario(tomllib.loads(_config(node.url)))
        clock = SimClock(speed=config.speed, start_s=config.start_s)
        with (
            ChainSession.open(config, _silent) as chain,
            MeterFleet.open(config, clock, _silent) as fleet,
        ):
            assert fleet.wait_online(10.0) == []
            attested = {e.meter_id: e for e in chain.commission(fleet, 0.0)}
            market, registry = chain.market, chain.market.registry
            for meter_id in ("roof", "flat"):
                own = _wire_address(fleet, meter_id)
                assert registry.signer(meter_id) == own == attested[meter_id].signer
                assert registry.attestation(meter_id) == "meter-signed"
                assert chain.attestation[meter_id] == {"attestation": "meter", "signer": own}
            assert registry.attestation("shed") == "attested by bench"
            assert registry.signer("shed") == market.keys.attestor("shed").address
            assert chain.attestation["shed"]["attestation"] == "bench"
            # the commissioning readings are the baselines, announced by ReadingAccepted
            accepted = [decode_log(log) for log in market.event_logs(topic("ReadingAccepted"))]
            by_meter = {e.args["meterId"]: e.args for e in accepted if e is not None}
            assert set(by_meter) == {"roof", "flat", "shed"}
            baseline = by_meter["roof"]["exportWh"]

            time.sleep(0.5)  # 500 simulated s: the roof exports ~1.7 kWh
            signed, missing = chain.signed_readings(0.0)
            assert missing == [] and set(signed) == {"roof", "flat"}
            roof = signed["roof"]
            assert roof.export_wh - baseline >= 100  # absolute counters, above the baseline
            metered = {
                "roof": MeteredEnergy("roof", 0.0, 100.0),
                "flat": MeteredEnergy("flat", 50.0, 0.0),
                "shed": MeteredEnergy("shed", 40.0, 0.0),
            }
            orders = [
                Order("roof", Side.OFFER, 100, 80),
                Order("flat", Side.BID, 50, 300),
                Order("shed", Side.BID, 40, 250),
            ]
            trades = [Trade("flat", "roof", 50, 100), Trade("shed", "roof", 40, 100)]
            tampered = {**signed, "flat": dataclasses.replace(signed["flat"], import_wh=10**6)}
            settlement = chain.settle(1, trades, metered, orders=orders, signed=tampered)
            # the host raised flat's import: its signature no longer verifies on chain
            assert settlement.rejected_readings == (("flat", "bad signature"),)
            state = market.contract.functions.meters(meter_id_bytes32("roof")).call()
            assert (state[5], state[8]) == (roof.seq, roof.export_wh)  # the meter's own counters
            flat_state = market.contract.functions.meters(meter_id_bytes32("flat")).call()
            assert flat_state[7] != 10**6
            # roof's sale is backed by its signed export; flat's purchase by nothing new
            assert [(t.buyer, t.seller) for t in settlement.settled_trades] == [("shed", "roof")]
            assert [(t.buyer, why) for t, why in settlement.rejected_trades] == [
                ("flat", "not backed by attested meter energy")
            ]


def test_a_trade_above_a_submitted_bid_is_rejected_by_the_contract() -> None:
    with Anvil() as node:
        config = parse_scenario(tomllib.loads(_config(node.url)))
        with ChainSession.open(config, _silent) as chain:
            metered = {
                "roof": MeteredEnergy("roof", 0.0, 1000.0),
                "flat": MeteredEnergy("flat", 500.0, 0.0),
                "shed": MeteredEnergy("shed", 500.0, 0.0),
            }
            orders = [
                Order("roof", Side.OFFER, 1000, 80),
                Order("flat", Side.BID, 300, 300),
                Order("shed", Side.BID, 200, 250),
            ]
            trades = [
                Trade("flat", "roof", 300, 120),  # what the clearing matched
                Trade("shed", "roof", 100, 251),  # operator: above shed's signed 250
                Trade("shed", "roof", 250, 120),  # operator: shed's 200 Wh bid exceeded
                Trade("shed", "roof", 100, 120),  # within shed's bid: settles
            ]
            settlement = chain.settle(1, trades, metered, orders=orders)
    assert [why for _, why in settlement.rejected_trades] == [
        "price outside the signed limits",
        "above the signed energy",
    ]
    assert settlement.settled_trades == (trades[0], trades[3])


def test_keys_come_from_the_configs_keystore_files(tmp_path: Path) -> None:
    operator, flat = Account.create(), Account.create()
    save_key(operator, tmp_path / "operator.json")
    save_key(flat, tmp_path / "flat.json")
    with Anvil() as node:
        text = _config(node.url, operator_key_file="operator.json", flat_key_file="flat.json")
        path = tmp_path / "bench.toml"
        path.write_text(text)
        with ChainSession.open(load_scenario(path), _silent) as chain:
            assert chain.market.operator.address == operator.address
            assert chain.market.wallet("flat").address == flat.address
            assert chain.market.wallet("roof").address not in {operator.address, flat.address}
            assert chain.market.balance_wei("flat") == 50_000_000


def test_a_run_reports_which_meters_sign_in_summary_report_and_on_chain(tmp_path: Path) -> None:
    with Anvil() as node:
        summary = run_worker(_config(node.url, intervals=2), tmp_path, journal=True).summary
        kinds = {m: how["attestation"] for m, how in summary.attestation.items()}
        assert kinds == {"roof": "meter", "flat": "meter", "shed": "bench"}
        assert summary.trades_settled > 0 and summary.trades_rejected == 0
        market = Market.attach(node.url, summary.market_address)
        for meter_id, how in summary.attestation.items():
            assert market.registry.signer(meter_id) == how["signer"]
            meter = meter_id_bytes32(meter_id)
            first = next(
                e.args["seq"]
                for e in map(decode_log, market.event_logs(topic("ReadingAccepted")))
                if e is not None and e.args["meterId"] == meter_id
            )
            state = market.contract.functions.meters(meter).call()
            assert state[5] >= first + 2  # after commissioning, one reading per interval
    assert summary.journal_path is not None
    out = subprocess.run(
        [sys.executable, "-m", "gridbench", "report", summary.journal_path, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert json.loads(out.stdout)["meters"] == summary.attestation
