"""The forge deploy script for shared devnets, then the bench attaching to its market."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from bench.chain import Anvil, Market
from bench.chain.keys import ANVIL_ACCOUNT_0_KEY
from bench.chain.tools import REPO_ROOT, native_binary
from pricing import Trade
from tests.chain.conftest import Meters

pytestmark = [pytest.mark.chain, pytest.mark.slow]


def test_script_deployed_market_settles(anvil: Anvil) -> None:
    env = {**os.environ, "FOUNDRY_OFFLINE": "true", "MAX_INTERVAL_STEP": "4"}
    run = subprocess.run(
        [
            str(native_binary("forge")),
            "script",
            "script/Deploy.s.sol",
            "--rpc-url",
            anvil.url,
            "--private-key",
            ANVIL_ACCOUNT_0_KEY,
            "--broadcast",
        ],
        cwd=REPO_ROOT / "contracts",
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    address = re.search(r"market: contract GridMarket (0x[0-9a-fA-F]{40})", run.stdout)
    assert address, run.stdout[-2000:]
    market = Market.attach(anvil.url, address.group(1))
    assert market.contract.functions.maxIntervalStep().call() == 4
    market.add_participants(["alice", "bob"], 1000)
    readings = Meters(market, ("alice", "bob")).next()
    assert (
        market.settle_interval(1, [Trade("alice", "bob", 2, 250)], readings).value_settled_wei
        == 500
    )
