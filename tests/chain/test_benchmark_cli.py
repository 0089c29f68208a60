"""``gridbench chain bench --quick --json``: well-formed and correct, never timed."""

from __future__ import annotations

import argparse
import json
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chain import Anvil
from bench.chain.anvil import rpc_call
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
    keys = ("gas_per_trade", "trades_per_s", "baseline_gas_per_trade", "baseline_trades_per_s")
    for key in (*keys, "gas_per_trade_small", "erc20_transfer_gas", "floor_noop_tx_per_s"):
        assert figures[key] > 0, key
    # the ratios to the floor are the timed figures over the floor of the same run
    rate, floor = figures["trades_per_s"], figures["floor_noop_tx_per_s"]
    assert figures["trades_per_noop_tx"] == pytest.approx(rate / floor)
    assert figures["settle_s_per_noop_tx"] == pytest.approx(1000 / rate * floor)
    assert figures["trades_per_interval"] == 1000 and figures["participants"] == 50
    # Batching must share the fixed per-transaction cost: far less gas per trade.
    assert figures["gas_per_trade"] < figures["baseline_gas_per_trade"] / 5
    # A plain token transfer costs more than a batched, signed, metered trade.
    assert figures["gas_per_trade"] < figures["erc20_transfer_gas"]


def test_quick_bench_table(anvil: Anvil, capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["chain", "bench", "--quick", "--chain-url", anvil.url])
    assert args.func(args) == 0
    out = capsys.readouterr().out
    assert "one tx per trade (baseline)" in out
    (batch_row,) = [line for line in out.splitlines() if line.startswith("batch of 1000")]
    gas_ratio = float(re.findall(r"([0-9.]+)x", batch_row)[0])
    assert gas_ratio > 5  # the table's gas ratio against the baseline of the same run
    assert re.search(r"floor: [0-9,]+ no-op tx/s", out)


def test_anvil_subcommand_parses() -> None:
    args = parse(["chain", "anvil", "--port", "8545"])
    assert args.func is chain_cli.run_anvil and args.port == 8545


def test_anvil_subcommand_serves_until_sigterm_and_dumps_state(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    script = (
        "import argparse, sys; from bench.cli import chain; p = argparse.ArgumentParser(); "
        "chain.register(p.add_subparsers()); a = p.parse_args(sys.argv[1:]); sys.exit(a.func(a))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", script, "chain", "anvil", "--dump-state", str(state)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        url = re.search(r"http://127\.0\.0\.1:\d+", line)
        assert url, line
        assert rpc_call(url.group(0), "eth_chainId") == hex(31337)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert state.is_file() and state.stat().st_size > 0
