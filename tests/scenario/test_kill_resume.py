"""A bench SIGKILLed at each step of an interval's settlement, then ``gridbench run
--resume``: every interval settled exactly once, the run carried on to its end, and the
chain (the oracle: read back with ``Market.attach``, its events and its storage) agrees
with the journal on every settlement, every balance and every meter's counters.

The bench is a real process (``killed_bench.py``) with its own Anvil; it kills itself with
SIGKILL at the step, so nothing is flushed and its Anvil is left running, as ``kill -9``
would leave them.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from bench.chain import Anvil, Market
from bench.chain.audit import audit_interval
from bench.chain.keys import KeyRing
from bench.config import load_scenario
from bench.scenario.worker import ANVIL_PID, ANVIL_STATE
from bench.store import Journal

pytestmark = pytest.mark.chain

HERE = Path(__file__).parent
INTERVALS, KILLED = 3, 2
CONFIG = f"""
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
METERS = {"roof": "roof", "flat": "flat"}  # participant -> meter


def _gridbench(*args: str, kill_at: str | None = None) -> subprocess.CompletedProcess[str]:
    script = [str(HERE / "killed_bench.py"), kill_at, str(KILLED)] if kill_at else []
    command = [sys.executable, *script] if script else [sys.executable, "-m", "gridbench.cli"]
    return subprocess.run(
        [*command, *args], capture_output=True, text=True, timeout=240, check=False
    )


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize(
    ("kill_at", "sent_again"),
    [
        pytest.param("before_send", True, marks=pytest.mark.slow),
        ("after_send", False),  # mined by the orphan Anvil, never journaled
        pytest.param("before_commit", False, marks=pytest.mark.slow),
    ],
)
def test_a_sigkilled_bench_resumes_to_the_end_with_every_interval_settled_once(
    tmp_path: Path, kill_at: str, sent_again: bool
) -> None:
    (tmp_path / "bench.toml").write_text(CONFIG)
    runs = tmp_path / "runs"
    killed = _gridbench(
        "run", "--config", str(tmp_path / "bench.toml"), "--journal", str(runs), "-q",
        kill_at=kill_at,
    )  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (run_dir,) = runs.iterdir()
    orphan = json.loads((run_dir / ANVIL_PID).read_text())["pid"]
    assert _alive(orphan)  # the bench's Anvil outlived it

    resumed = _gridbench("run", "--resume", str(run_dir), "--json")
    assert resumed.returncode == 0, resumed.stderr
    out = json.loads(resumed.stdout)
    (row,) = out["recovered"]
    assert (row["interval_id"], row["sent_again"]) == (KILLED, sent_again)
    assert out["verdict_pass"] is True and out["intervals"] == INTERVALS - KILLED
    assert not _alive(orphan) and not (run_dir / ANVIL_PID).exists()
    assert sorted(p.name for p in run_dir.iterdir()) == [
        ANVIL_STATE,
        "journal.sqlite",
        "journal.sqlite.keys",
    ]  # one journal file: no -wal, -shm or rollback file

    journal = Journal(run_dir / "journal.sqlite", read_only=True)
    settled_tx = {i: row[1] for i, row in journal.settlements().items()}
    settled_tx.update({i: r[0] for i, r in journal.recovered_settlements().items()})
    totals = journal.energy_totals_wh()
    address = str(journal.meta("market_address"))
    journal.close()
    keys = KeyRing.from_folder(run_dir / "journal.sqlite.keys")
    with Anvil(load_state=run_dir / ANVIL_STATE) as node:  # the chain as the run left it
        market = Market.attach(node.url, address, keys=keys, allow_anvil_key=True)
        for name in METERS:
            market.accounts.index(name)  # trades read back by name
        events = {i: market.settler.events(i) for i in range(1, INTERVALS + 1)}
        assert {i: [e.interval_id for e in got] for i, got in events.items()} == {
            i: [i] for i in range(1, INTERVALS + 1)
        }  # each interval once
        assert market.settled_intervals() == list(range(1, INTERVALS + 1))
        assert {i: got[0].tx_hash for i, got in events.items()} == settled_tx
        # balance = deposit + sold - bought, from the chain's own settlements
        net = dict.fromkeys(METERS, 0)
        for i in events:
            for trade in audit_interval(market, i).settlement.settled_trades:
                net[trade.seller] += trade.value_wei
                net[trade.buyer] -= trade.value_wei
        deposit = load_scenario(tmp_path / "bench.toml").deposit_wei
        assert {n: market.balance_wei(n) for n in METERS} == {n: deposit + net[n] for n in METERS}
        assert net["roof"] > 0  # something was traded in every check above
        # the meters' counters the chain accepted are the journal's totals (whole Wh: at
        # most 1 Wh floored at each settlement and 1 at the resume's restart)
        for name, meter in METERS.items():
            last = market.registry.last_counters(meter)
            import_wh, export_wh = totals[name]
            assert last.seq == INTERVALS
            assert abs(last.import_wh - import_wh) <= 2
            assert abs(last.export_wh - export_wh) <= 2
    # every interval's energy is there: 8 kW for 3 x 900 s, within the cuts' timing
    flat_wh = totals["flat"][0]
    assert 0.9 * 6000 < flat_wh <= 6000 * 1.01
