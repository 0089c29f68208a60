"""Fixtures of the chain tests: a fresh market per test on the plugin's session Anvil."""

from __future__ import annotations

import subprocess

import pytest

from bench.attestation import SignedCounters
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


class Meters:
    """Bench-attested counters of a market's meters: each call one hour later."""

    def __init__(self, market: Market, names: tuple[str, ...] = PEOPLE) -> None:
        self.market, self.names = market, names
        self.counters = {n: (0, 0) for n in names}
        self.time_s = 0

    def next(self, step_wh: int = 10_000, **rise: tuple[int, int]) -> list[SignedCounters]:
        """Every meter's next reading: +``step_wh`` each way, or ``rise[name]``."""
        self.time_s += 3600
        out = []
        for name in self.names:
            d_imp, d_exp = rise.get(name, (step_wh, step_wh))
            imp, exp = self.counters[name]
            self.counters[name] = (imp + d_imp, exp + d_exp)
            out.append(
                self.market.registry.attestor.sign(name, imp + d_imp, exp + d_exp, self.time_s)
            )
        return out


@pytest.fixture
def market(anvil: Anvil, artifacts: None) -> Market:
    """A fresh market with alice, bob and carol funded with 1 LABC each, their meters
    attested by the bench."""
    m = Market.deploy(anvil.url)
    m.add_participants(PEOPLE, DEPOSIT_WEI)
    return m


@pytest.fixture
def meters(market: Market) -> Meters:
    """The market fixture's meters."""
    return Meters(market)
