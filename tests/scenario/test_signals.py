"""Ctrl-C and SIGTERM on a real ``gridbench run`` subprocess stop it cleanly: the supply
point locked and its session closed, Anvil stopped, the journal committed (no rollback or
WAL file left) and exit code 1 (stopped early)."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.configs import consumer, meter_block, prosumer, run_config, session_block
from tests.scenario.conftest import chain_of

pytestmark = pytest.mark.chain

# 400 intervals: the run is still going whenever the signal comes; the charger's session
# is open from interval 1 to 390.
CONFIG = run_config(
    intervals=400,
    sections={"chain": {"deposit_wei": 200000000}},  # 400 intervals and the session's cap
    meters=[
        meter_block("roof", "fake", -10000.0),
        meter_block("flat", "fake", 3000.0),
        meter_block("charger", "fake", 6000.0),
    ],
    participants=[prosumer("roof", 80), consumer("flat", 300)],
    extra=session_block(
        "flat",
        "charger",
        "charge-co",
        tariff_wei_per_wh=200,
        cap_wei=40000000,
        open_interval=1,
        close_interval=390,
    ),
)

_START_TIMEOUT_S = 120.0  # imports, Anvil, deployment: slow on a loaded machine
_STOP_TIMEOUT_S = 60.0
_RESUME_TIMEOUT_S = 600.0  # the remaining intervals of 400 at 3600x


def _children(pid: int, name: str) -> list[int]:
    """Process ids of ``pid``'s direct children whose command is ``name``."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            text = stat.read_text()
        except OSError:
            continue
        comm = text[text.index("(") + 1 : text.rindex(")")]
        ppid = int(text[text.rindex(")") + 2 :].split()[1])
        if ppid == pid and comm == name:
            found.append(int(stat.parent.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


class _Lines:
    """Collects a pipe's lines on a thread; waits for a line containing some text."""

    def __init__(self, pipe) -> None:  # type: ignore[no-untyped-def]
        self.lines: list[str] = []
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._read, args=(pipe,), daemon=True)
        self._thread.start()

    def _read(self, pipe) -> None:  # type: ignore[no-untyped-def]
        for line in pipe:
            with self._cond:
                self.lines.append(line)
                self._cond.notify_all()

    def wait_for(self, *texts: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while not all(any(t in line for line in self.lines) for t in texts):
                left = deadline - time.monotonic()
                assert left > 0, f"never saw {texts}:\n{''.join(self.lines)[-3000:]}"
                self._cond.wait(left)

    def text(self) -> str:
        self._thread.join(timeout=10)
        return "".join(self.lines)


@pytest.mark.parametrize(
    "signum", [signal.SIGTERM, pytest.param(signal.SIGINT, marks=pytest.mark.slow)]
)
def test_a_signal_stops_the_run_cleanly(tmp_path: Path, signum: signal.Signals) -> None:
    config = tmp_path / "bench.toml"
    config.write_text(CONFIG)
    runs = tmp_path / "runs"
    argv = [sys.executable, "-m", "gridbench.cli", "run", "--config", str(config)]
    argv += ["--journal", str(runs), "-v", "-q"]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        err, std = _Lines(proc.stderr), _Lines(proc.stdout)
        err.wait_for("opened by flat on charger", "interval 3:", timeout_s=_START_TIMEOUT_S)
        (anvil,) = _children(proc.pid, "anvil")
        proc.send_signal(signum)
        proc.wait(timeout=_STOP_TIMEOUT_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    stderr, out = err.text(), std.text()
    assert proc.returncode == 1, out + stderr
    assert "interrupted: stopping the run" in stderr
    assert "verdict: FAIL" in out and "stopped early" in out, out
    assert not _alive(anvil), "Anvil was left running"
    (journal,) = runs.glob("*/journal.sqlite")
    assert sorted(p.name for p in journal.parent.iterdir() if p.name.startswith("journal")) == [
        "journal.sqlite",
        "journal.sqlite.keys",
    ]  # no -journal (rollback), -wal or -shm file
    db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
    meta = dict(db.execute("SELECT key, value FROM run").fetchall())
    assert meta["end_state"] == '"stopped"'
    assert "summary" in meta  # sealed
    messages = [m for (m,) in db.execute("SELECT message FROM event ORDER BY rowid")]
    closed = any("on charger: supply locked, closed" in m for m in messages)
    # since main's CounterTooFast rule the chain may refuse the close: then a finding says so
    # (a known issue outside this test's area), never a crash or a silent open session
    refused = any("session 1 could not be closed" in m for m in messages)
    assert closed or refused, messages[-20:]
    locked = [m for m in messages if m.startswith("meter charger: relay open (locked)")]
    assert locked and locked[-1].endswith("(the bench stopped)"), messages[-20:]
    (settled,) = db.execute("SELECT COUNT(*) FROM settlement").fetchone()
    assert 2 <= settled < 400  # "interval 3:" may be interval 2's price signal


@pytest.mark.slow
@pytest.mark.timeout(900)
@pytest.mark.parametrize("at", ["interval 2:", "session"])
def test_a_sigkilled_run_resumes_with_journal_and_chain_agreeing(tmp_path: Path, at: str) -> None:
    """SIGKILL of the bench wherever it is (Anvil lives on in its own session): the resume
    reattaches, and every interval the chain settled is then in the journal, once."""
    config = tmp_path / "bench.toml"
    config.write_text(CONFIG)
    runs = tmp_path / "runs"
    argv = [sys.executable, "-m", "gridbench.cli", "run", "--config", str(config)]
    proc = subprocess.Popen(
        [*argv, "--journal", str(runs), "-v", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    anvil: list[int] = []
    try:
        err = _Lines(proc.stderr)
        err.wait_for("opened by flat on charger", at, timeout_s=_START_TIMEOUT_S)
        anvil = _children(proc.pid, "anvil")
        proc.kill()
        proc.wait(timeout=_STOP_TIMEOUT_S)
        (journal,) = runs.glob("*/journal.sqlite")
        resumed = subprocess.run(
            [sys.executable, "-m", "gridbench.cli", "run", "--resume", str(journal.parent)],
            capture_output=True,
            text=True,
            timeout=_RESUME_TIMEOUT_S,
        )
        # the resume carries the session on and runs the remaining intervals to the end
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr[-4000:]
        assert "the run's Anvil restarted at" in resumed.stderr
        db = sqlite3.connect(f"file:{journal}?mode=ro", uri=True)
        recorded = [i for (i,) in db.execute("SELECT interval_id FROM settlement")]
        recovered = [i for (i,) in db.execute("SELECT interval_id FROM recovered_settlement")]
        meta = dict(db.execute("SELECT key, value FROM run").fetchall())
        db.close()
        with chain_of(journal.parent, json.loads(meta["market_address"])) as market:
            on_chain = market.settled_intervals()
        assert sorted(recorded + recovered) == on_chain  # each once, none missing
        assert on_chain == list(range(1, 401))
        assert set(recorded).isdisjoint(recovered)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in anvil:
            if _alive(pid):
                os.kill(pid, signal.SIGTERM)
