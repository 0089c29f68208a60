"""What the resume tests share: the two-meter run they kill and resume, and the chain a
run folder left behind, read back as the oracle."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

from bench.chain import Anvil, Market
from bench.chain.keys import KeyRing
from bench.scenario.worker import ANVIL_STATE

INTERVALS = 3
TWO_METERS = f"""
[bench]
reading_interval_s = 0.05

[scenario]
market_interval_s = 900
intervals = {INTERVALS}
speed = 3600

[[meters]]
id = "roof"
kind = "fake"
power_w = -10000.0

[[meters]]
id = "flat"
kind = "fake"
power_w = 8000.0

[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"
offer_price_wei_per_wh = 70

[[participants]]
name = "flat"
role = "consumer"
meter = "flat"
"""
"""A roof selling 10 kW to a flat drawing 8 kW, three 15-minute intervals at 3600×."""
METERS = {"roof": "roof", "flat": "flat"}  # participant -> meter


@pytest.fixture
def two_meters(tmp_path: Path) -> Path:
    """:data:`TWO_METERS` written as ``bench.toml`` in the test's folder."""
    path = tmp_path / "bench.toml"
    path.write_text(TWO_METERS)
    return path


@contextlib.contextmanager
def chain_of(run_dir: Path, address: str, names: Iterable[str] = tuple(METERS)) -> Iterator[Market]:
    """The market of the run in ``run_dir`` on an Anvil started from the state it saved
    (the chain as the run left it), attached with the run's keys and its participants
    ``names`` registered (trades are read back by name); stopped on exit."""
    keys = KeyRing.from_folder(run_dir / "journal.sqlite.keys")
    with Anvil(load_state=run_dir / ANVIL_STATE) as node:
        market = Market.attach(node.url, address, keys=keys, allow_anvil_key=True)
        for name in names:
            market.accounts.index(name)
        yield market


def gridbench(
    *args: str, kill: tuple[str, int] | None = None, timeout_s: float = 300.0
) -> subprocess.CompletedProcess[str]:
    """``gridbench ARGS`` in a subprocess; with ``kill`` (point, interval), the bench of
    ``killed_bench.py`` that SIGKILLs itself there."""
    here = Path(__file__).parent
    script = [str(here / "killed_bench.py"), kill[0], str(kill[1])] if kill else []
    command = [sys.executable, *script] if script else [sys.executable, "-m", "gridbench.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=timeout_s, check=False
    )
