"""Fixtures of the chain tests: a fresh market per test on the plugin's session Anvil."""

from __future__ import annotations

import subprocess

import pytest

from bench.chain import Anvil, Market
from bench.chain.tools import REPO_ROOT, contracts_out_dir, native_binary
from bench.errors import ToolMissingError

PEOPLE = ("alice", "bob", "carol")
DEPOSIT_WEI = 1_000_000


@pytest.fixture(scope="session")
def artifacts() -> None:
    """Forge artifacts, built once if missing (``make build-contracts`` does the same)."""
    if (contracts_out_dir() / "GridMarket.sol" / "GridMarket.json").is_file():
        return
    try:
        forge = native_binary("forge")
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    subprocess.run([str(forge), "build"], cwd=REPO_ROOT / "contracts", check=True)


@pytest.fixture
def anvil(anvil_session: Anvil) -> Anvil:
    """The plugin's session Anvil without the revert after each test: some chain tests
    leave transactions pending on purpose (automine off), which a revert would not clear."""
    return anvil_session


@pytest.fixture
def market(anvil: Anvil, artifacts: None) -> Market:
    """A fresh metered market with alice, bob and carol funded with 1 LABC each."""
    m = Market.deploy(anvil.url)
    m.add_participants(PEOPLE, DEPOSIT_WEI)
    return m


@pytest.fixture
def open_market(anvil: Anvil, artifacts: None) -> Market:
    """A fresh market that does not require meter readings."""
    m = Market.deploy(anvil.url, require_readings=False)
    m.add_participants(PEOPLE, DEPOSIT_WEI)
    return m
