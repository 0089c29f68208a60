"""``gridbench chain bench --quick --json``: well-formed and correct, never timed."""

from __future__ import annotations

import argparse
import json

import pytest

from bench.chain import Anvil
from bench.cli import chain as chain_cli

pytestmark = pytest.mark.chain


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gridbench")
    chain_cli.register(parser.add_subparsers(dest="command", required=True))
    return parser.parse_args(argv)


def test_quick_bench_json(anvil: Anvil, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["chain", "bench", "--quick", "--json", "--chain-url", anvil.url])
    assert args.func(args) == 0
    figures = json.loads(capsys.readouterr().out)
    for key in ("gas_per_trade", "trades_per_s", "baseline_gas_per_trade", "baseline_trades_per_s"):
        assert figures[key] > 0, key
    assert figures["trades_per_interval"] == 1000 and figures["participants"] == 50
    # Batching must share the fixed per-transaction cost: far less gas per trade.
    assert figures["gas_per_trade"] < figures["baseline_gas_per_trade"] / 5
    assert figures["gas_per_interval"] == pytest.approx(figures["gas_per_trade"] * 1000, abs=1)
    assert figures["unverified_gas_per_trade"] < figures["gas_per_trade"]


def test_quick_bench_table(anvil: Anvil, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["chain", "bench", "--quick", "--chain-url", anvil.url])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "one tx per trade (baseline)" in out and "batch of 1000" in out
    assert "1.0x" in out


def test_anvil_subcommand_parses() -> None:
    args = parse(["chain", "anvil", "--port", "8545"])
    assert args.func is chain_cli.run_anvil and args.port == 8545
