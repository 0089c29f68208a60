"""The demo (nine emulated meters keeping their EEPROM, a feeder, a battery, an EV supply
session, the city tie) SIGKILLed and resumed with ``gridbench run --resume``: the verdict
is the unbroken run's (pass: escrow conserved, energy balanced, audit clean), and the
chain holds every interval settled once and the session billed once."""

from __future__ import annotations

import json
import signal
import tomllib
from pathlib import Path

import pytest

from bench.store import Journal
from tests.scenario.conftest import chain_of, gridbench

pytestmark = pytest.mark.chain  # about 100 s: every kill point on the real demo

ROOT = Path(__file__).parent.parent.parent
INTERVALS = 6


def _demo(tmp_path: Path) -> Path:
    """The demo cut to six intervals, its EV session open in intervals 2 and 3."""
    text = (ROOT / "fixtures" / "demo.toml").read_text()
    for old, new in [
        ("intervals = 24", f"intervals = {INTERVALS}"),
        ("open_interval = 4", "open_interval = 2"),
        ("close_interval = 12", "close_interval = 3"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "demo.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("kill_at", "interval_id", "sent_again"),
    [
        # in the EV session (open in intervals 2 and 3), at each step of interval 3's
        # settle: the intent journaled, not sent; sent and mined, the receipt not read;
        # the receipt read, not journaled; sent with the Anvil killed too, its state
        # last saved at commissioning (every transaction since sent again from the journal)
        ("before_send", 3, True),
        ("after_send", 3, False),
        ("before_commit", 3, False),
        ("anvil_lost", 3, True),
        ("after_commit", 3, None),
        # after the last interval was journaled, before the run finished: the meters'
        # energy after the run's end is no interval's (it once came back as a catch-up
        # into interval 6)
        ("after_commit", INTERVALS, None),
    ],
)
def test_the_demo_killed_and_resumed_passes_with_every_interval_settled_once(
    tmp_path: Path, kill_at: str, interval_id: int, sent_again: bool | None
) -> None:
    runs = tmp_path / "runs"
    config = str(_demo(tmp_path))
    killed = gridbench("run", "--config", config, "--journal", str(runs), "-q",
                        kill=(kill_at, interval_id))  # fmt: skip
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    (run_dir,) = runs.iterdir()
    resumed = gridbench("run", "--resume", str(run_dir), "--json")
    assert resumed.returncode == 0, (resumed.stdout, resumed.stderr)
    out = json.loads(resumed.stdout)
    assert out["intervals"] == INTERVALS
    assert out["escrow_conserved"] is True and out["audit_clean"] is True
    assert out["verdict_pass"] is True
    recovered = [(r["interval_id"], r["sent_again"]) for r in out["recovered"]]
    assert recovered == ([] if sent_again is None else [(interval_id, sent_again)])
    journal = Journal(run_dir / "journal.sqlite", read_only=True)
    address = str(journal.meta("market_address"))
    catch_ups = journal.catch_up_rows()
    journal.close()
    if interval_id == INTERVALS:  # what the meters counted after the run's end is no one's
        assert catch_ups == []
    else:  # interval 3 from the chain where it was not journaled, the meters' counting
        # up to the kill (in no interval: the resumed clock starts at the stop)
        assert {c.interval_id for c in catch_ups} == ({None} if sent_again is None else {3, None})
    names = [p["name"] for p in tomllib.loads(Path(config).read_text())["participants"]]
    with chain_of(run_dir, address, names) as market:
        assert market.settled_intervals() == list(range(1, INTERVALS + 1))
        for i in range(1, INTERVALS + 1):
            assert len(market.settler.events(i)) == 1
        (opened,) = market.sessions.opened()
        (bill,) = market.session_bills()
        assert bill.session_id == opened.session_id and bill.energy_wh > 0
        assert market.sessions.open_ids() == []
