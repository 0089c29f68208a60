"""Every fault and kill point of issue 13, one row each: what became of the run and the
Wh the journal misses against the meters' truth.

    PYTHONPATH=. .venv/bin/python scripts/fault_table.py [--only kills|faults]

Kill points run ``gridbench run`` in a subprocess on two fake meters (a 10 kW roof
selling to an 8 kW flat, 6 intervals of 15 min at 3600×), kill it, resume it with
``gridbench run --resume`` and read the chain back from the Anvil state the run left:

* the bench SIGKILLed before a settle is sent, between the send and its receipt, after
  the receipt before the journal commit (``tests/scenario/killed_bench.py``), and twice;
* the bench SIGKILLed and its orphan Anvil ``kill -9``-ed too, with the state saved two
  intervals earlier (the resume settles the lost intervals again from the journal);
* the bench's own Anvil ``kill -9``-ed mid-run (the bench restarts it and goes on);
* SIGTERM and SIGINT (Ctrl-C) mid-run, then ``--resume``.

For these the truth is the fake meters' own: they integrate their power over the run's
simulated time exactly (their clock stands still while the bench is down), so a meter's
true energy is its power times the run's simulated seconds.

Meter faults run in-process on an emulator farm, one meter per fault (every frame fault
at 10 %, noise and drift at 10 %, a 25 s unplug, a reboot, a 3 s stall, the wrong
firmware), 1800× with 15-minute intervals, the truth each emulated meter's own counters
sampled every millisecond against the host clock (as ``tests/scenario/test_faults.py``).

Columns: outcome (``exit`` code of the last command, ``once``: every interval settled
exactly once on chain, ``escrow``: wallets plus market holdings conserved) and, per
meter, the Wh unaccounted: the truth less the journal's intervals and catch-ups (> 0:
missing from the journal).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.chain import Anvil, Market  # noqa: E402
from bench.chain.keys import KeyRing  # noqa: E402
from bench.scenario.worker import ANVIL_PID, ANVIL_STATE  # noqa: E402
from bench.store import Journal  # noqa: E402
from tests.scenario.conftest import TWO_METERS  # noqa: E402

INTERVALS, INTERVAL_S = 6, 900
KILLED = 3
POWERS_W = {"roof": -10000.0, "flat": 8000.0}
CONFIG = TWO_METERS.replace("intervals = 3", f"intervals = {INTERVALS}")
_ENV = {**os.environ, "PYTHONPATH": str(ROOT)}
_KILLED_BENCH = ROOT / "tests" / "scenario" / "killed_bench.py"


def _gridbench(*args: str, kill_at: str | None = None, at: int = KILLED) -> int:
    script = [str(_KILLED_BENCH), kill_at, str(at)] if kill_at else ["-m", "gridbench.cli"]
    done = subprocess.run(
        [sys.executable, *script, *args], capture_output=True, text=True, env=_ENV, timeout=600
    )
    return done.returncode


def _start(config: Path, runs: Path) -> subprocess.Popen[str]:
    argv = [sys.executable, "-m", "gridbench.cli", "run", "--config", str(config)]
    return subprocess.Popen(
        [*argv, "--journal", str(runs), "-v", "-q"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=_ENV,
    )


def _wait_line(
    proc: subprocess.Popen[str], text: str, on_line: Callable[[str], None] | None = None
) -> None:
    assert proc.stderr is not None
    for line in proc.stderr:
        if on_line is not None:
            on_line(line)
        if text in line:
            return
    raise RuntimeError(f"the run ended before {text!r}")


def _drain(proc: subprocess.Popen[str]) -> None:
    threading.Thread(target=lambda: proc.stderr and proc.stderr.read(), daemon=True).start()


def _anvil_pid(run_dir: Path) -> int:
    return int(json.loads((run_dir / ANVIL_PID).read_text())["pid"])


def _resume(run_dir: Path) -> int:
    return _gridbench("run", "--resume", str(run_dir), "-q")


def _verdict(run_dir: Path, code: int, truth_s: float) -> dict[str, object]:
    """The row's outcome and Wh unaccounted, from the journal and the chain it left."""
    journal = Journal(run_dir / "journal.sqlite", read_only=True)
    address = str(journal.meta("market_address"))
    totals = journal.energy_totals_wh()
    summary = journal.meta("summary")
    recovered, resettled = len(journal.recovered_settlements()), len(journal.resettled())
    journal.close()
    keys = KeyRing.from_folder(run_dir / "journal.sqlite.keys")
    with Anvil(load_state=run_dir / ANVIL_STATE) as node:
        market = Market.attach(node.url, address, keys=keys, allow_anvil_key=True)
        settled = market.settled_intervals()
        once = settled == list(range(1, INTERVALS + 1)) and all(
            len(market.settler.events(i)) == 1 for i in settled
        )
    escrow = isinstance(summary, dict) and bool(summary.get("escrow_conserved"))
    missing = {}
    for meter, power_w in POWERS_W.items():
        true_wh = abs(power_w) * truth_s / 3600.0
        imp, exp = totals.get(meter, (0.0, 0.0))
        missing[meter] = true_wh - (imp if power_w > 0 else exp)
    return {
        "exit": code,
        "once": once,
        "escrow": escrow,
        "missing_wh": missing,
        "how": f"{recovered} recovered, {resettled} settled again",
    }


def _kill_row(folder: Path, kill_at: str) -> dict[str, object]:
    runs = folder / "runs"
    _gridbench(
        "run", "--config", str(folder / "bench.toml"), "--journal", str(runs), "-q", kill_at=kill_at
    )
    (run_dir,) = runs.iterdir()
    return _verdict(run_dir, _resume(run_dir), INTERVALS * INTERVAL_S)


def _twice(folder: Path) -> dict[str, object]:
    runs = folder / "runs"
    _gridbench(
        "run",
        "--config",
        str(folder / "bench.toml"),
        "--journal",
        str(runs),
        "-q",
        kill_at="after_send",
    )
    (run_dir,) = runs.iterdir()
    _gridbench("run", "--resume", str(run_dir), "-q", kill_at="before_send", at=KILLED + 1)
    return _verdict(run_dir, _resume(run_dir), INTERVALS * INTERVAL_S)


def _orphan_gone(folder: Path) -> dict[str, object]:
    """Killed after interval KILLED's receipt; the orphan Anvil then kill -9-ed and the
    state saved two intervals before put back, as if the bench had saved it no later."""
    runs = folder / "runs"
    proc = _start(folder / "bench.toml", runs)
    kept = folder / "old-state.json"

    def keep(line: str) -> None:
        if f"interval {KILLED - 2}:" in line:
            (state,) = runs.glob(f"*/{ANVIL_STATE}")
            shutil.copy(state, kept)

    _wait_line(proc, f"interval {KILLED}:", keep)
    proc.kill()
    proc.wait()
    (run_dir,) = runs.iterdir()
    os.kill(_anvil_pid(run_dir), signal.SIGKILL)
    time.sleep(0.5)
    shutil.copy(kept, run_dir / ANVIL_STATE)
    return _verdict(run_dir, _resume(run_dir), INTERVALS * INTERVAL_S)


def _anvil_killed(folder: Path) -> dict[str, object]:
    runs = folder / "runs"
    proc = _start(folder / "bench.toml", runs)
    _wait_line(proc, f"interval {KILLED}:")
    (run_dir,) = runs.iterdir()
    os.kill(_anvil_pid(run_dir), signal.SIGKILL)
    _drain(proc)
    return _verdict(run_dir, proc.wait(timeout=600), INTERVALS * INTERVAL_S)


def _signalled(folder: Path, signum: signal.Signals) -> dict[str, object]:
    runs = folder / "runs"
    proc = _start(folder / "bench.toml", runs)
    _wait_line(proc, f"interval {KILLED}:")
    proc.send_signal(signum)
    _drain(proc)
    stopped = proc.wait(timeout=600)
    (run_dir,) = runs.iterdir()
    clean = not any(p.name.endswith(("-journal", "-wal", "-shm")) for p in run_dir.iterdir())
    clean = clean and not (run_dir / ANVIL_PID).exists()
    row = _verdict(run_dir, _resume(run_dir), INTERVALS * INTERVAL_S)
    row["stop"] = f"exit {stopped}, {'clean' if clean else 'NOT clean'}"
    return row


KILLS: dict[str, Callable[[Path], dict[str, object]]] = {
    "bench SIGKILL before send": lambda f: _kill_row(f, "before_send"),
    "bench SIGKILL send→receipt": lambda f: _kill_row(f, "after_send"),
    "bench SIGKILL receipt→commit": lambda f: _kill_row(f, "before_commit"),
    "bench SIGKILL twice": _twice,
    "bench SIGKILL + Anvil kill -9 (state 2 intervals old)": _orphan_gone,
    "Anvil kill -9 mid-run": _anvil_killed,
    "SIGTERM mid-run, resumed": lambda f: _signalled(f, signal.SIGTERM),
    "Ctrl-C (SIGINT) mid-run, resumed": lambda f: _signalled(f, signal.SIGINT),
}


def _faults_rows() -> list[tuple[str, dict[str, object]]]:
    """One run on an emulator farm, one meter per fault; a row per meter."""
    from bench.config import Faults, load_scenario
    from bench.emulator import EmulatedMeter, MeterFarm
    from bench.events import IntervalReport, RunSummary, WorkerState, WorkerStatus
    from bench.scenario.worker import ScenarioWorker
    from bench.store import JournalRecorder
    from tests.scenario.test_faults import Truth

    speed, interval_s, intervals = 1800.0, 900, 96
    frame = {"garbage_rate": 0.1, "drop_rate": 0.1, "truncate_rate": 0.1}
    faults = {
        "garbage": Faults(garbage_rate=0.1),
        "drop": Faults(drop_rate=0.1),
        "truncate": Faults(truncate_rate=0.1),
        "noise": Faults(noise_fraction=0.1),
        "drift": Faults(drift_per_h=0.1),
        "unplug25s": Faults(**frame),
        "reboot": Faults(**frame),
        "stall3s": Faults(**frame),
        "wrongfw": Faults(wrong_firmware=True),
    }
    powers = {m: (-6000.0 if n % 2 else 4000.0) for n, m in enumerate(faults)}
    header = (
        f"[bench]\nreading_interval_s = 0.05\nreset_wait_s = 0\n\n[scenario]\n"
        f"market_interval_s = {interval_s}\nintervals = {intervals}\nspeed = {speed}\n\n"
        "[chain]\ndeposit_wei = 1000000000000\n"
    )
    rows = []
    with tempfile.TemporaryDirectory() as folder, MeterFarm(speed=speed) as farm, Anvil() as node:
        meters = {
            m: farm.add(EmulatedMeter(m, power_w=p, faults=faults[m], seed=7))
            for m, p in powers.items()
        }
        text = header + "".join(
            f'\n[[meters]]\nid = "{m}"\nkind = "firmata"\nport = "{meters[m].port}"\n'
            f'allow_default_key = true\n\n[[participants]]\nname = "{m}"\n'
            f'role = "{"prosumer" if p < 0 else "consumer"}"\nmeter = "{m}"\n'
            for m, p in powers.items()
        )
        path = Path(folder) / "bench.toml"
        path.write_text(text)
        started = threading.Event()

        class _Start:
            path = None

            def record(self, event: object) -> None:
                if isinstance(event, WorkerStatus) and event.state is WorkerState.RUNNING:
                    started.set()

            def close(self) -> None:
                started.set()

        worker = ScenarioWorker(
            load_scenario(path, chain_url=node.url), recorders=[JournalRecorder(folder), _Start()]
        )

        def inject() -> None:
            started.wait()
            time.sleep(3.0)
            meters["unplug25s"].unplug(25.0)
            time.sleep(5.0)
            meters["reboot"].reboot()
            time.sleep(5.0)
            meters["stall3s"].stall(3.0)

        truth_of = {m: meters[m] for m in powers if m != "wrongfw"}
        with Truth(truth_of) as truth:
            threading.Thread(target=inject, daemon=True).start()
            worker.start()
            worker.join(timeout=900)
        events = []
        while not worker.events.empty():
            events.append(worker.events.get_nowait())
        summary = events[-1]
        assert isinstance(summary, RunSummary), worker.error
        reports = [e for e in events if isinstance(e, IntervalReport)]
        clock = worker.clock
        assert clock is not None
        end_s = reports[-1].sim_time_s
        start_real = clock.real_time_of(end_s - intervals * interval_s)
        end_real = clock.real_time_of(end_s)
        journal = Journal(summary.journal_path or "", read_only=True)
        totals = journal.energy_totals_wh()
        journal.close()
        settled = Market.attach(node.url, summary.market_address).settled_intervals()
        once = settled == list(range(1, intervals + 1))
        for meter, power_w in powers.items():
            side = 0 if power_w > 0 else 1
            got = totals.get(meter, (0.0, 0.0))[side]
            if meter == "wrongfw":
                true_wh = abs(power_w) * intervals * interval_s / 3600.0  # never reported
            else:
                true_wh = truth.at(meter, end_real)[side] - truth.at(meter, start_real)[side]
            rows.append(
                (
                    f"meter fault: {meter}",
                    {
                        "exit": "-",
                        "once": once,
                        "escrow": summary.escrow_conserved,
                        "missing_wh": {meter: true_wh - got},
                        "of_wh": true_wh,
                    },
                )
            )
    return rows


def _print(name: str, row: dict[str, object]) -> None:
    missing = row["missing_wh"]
    assert isinstance(missing, dict)
    wh = ", ".join(f"{m} {v:+.1f}" for m, v in missing.items())
    extra = f" ({row['stop']})" if "stop" in row else ""
    how = f", {row['how']}" if "how" in row else ""
    of = f" of {row['of_wh']:.0f}" if "of_wh" in row else ""
    print(
        f"| {name}{extra} | exit {row['exit']}, once {row['once']}, escrow {row['escrow']}{how} "
        f"| {wh}{of} |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=("kills", "faults"))
    args = parser.parse_args()
    print("| fault / kill point | outcome | Wh unaccounted (truth − journal) |")
    print("|---|---|---|")
    if args.only != "faults":
        for name, run in KILLS.items():
            with tempfile.TemporaryDirectory() as folder:
                (Path(folder) / "bench.toml").write_text(CONFIG)
                try:
                    _print(name, run(Path(folder)))
                except Exception as exc:  # a row that broke is a row, not the end
                    print(f"| {name} | ERROR {exc!r} | - |", flush=True)
    if args.only != "kills":
        for name, row in _faults_rows():
            _print(name, row)


if __name__ == "__main__":
    main()
