"""``gridbench run``: a configured scenario, headless, with a one-line or JSON summary."""

from __future__ import annotations

import argparse
import contextlib
import json
import queue
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from bench.cli.progress_bar import ProgressBar
from bench.config import ScenarioConfig, load_with_overrides
from bench.config.overrides import RUN_MODES, mode_overrides
from bench.config.schema import check_value
from bench.config.tables import SCENARIO
from bench.errors import ConfigError
from bench.events import IntervalReport, RunSummary, StatusEvent, WorkerState, WorkerStatus
from bench.fixtures import scenario_config
from bench.report import RunReport, message, replay
from bench.report.junit import write_junit
from bench.scenario.worker import ScenarioWorker
from bench.store import recorder_for, rerun_config
from pricing import Finding
from pricing.units import labc, labc_per_kwh


def add_run_options(parser: argparse.ArgumentParser, default_config: Path | None) -> None:
    """Options shared by ``run``, ``demo`` and ``panel``."""
    parser.add_argument(
        "--config",
        type=Path,
        default=default_config,
        required=False,
        metavar="TOML",
        help="bench config (meters, participants, market, chain)"
        + (f"; default: {default_config.name}" if default_config else ""),
    )
    parser.add_argument("--intervals", type=int, metavar="N", help="override the interval count")
    parser.add_argument(
        "--speed", type=float, metavar="X", help="simulated seconds per real second"
    )
    parser.add_argument(
        "--chain-url",
        metavar="URL",
        help="attach to this JSON-RPC node instead of starting Anvil",
    )
    parser.add_argument(
        "--journal",
        type=Path,
        metavar="DIR",
        default=Path("runs"),
        help="folder for the run journal (SQLite); default: ./runs",
    )
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.add_argument("-v", "--verbose", action="store_true", help="print every interval")
    parser.add_argument("--junit", type=Path, metavar="FILE", help="write the verdict as JUnit XML")
    parser.add_argument(
        "-q", "--quiet", action="store_true", help="no progress bar or notes: the final line only"
    )


def config_from_args(args: argparse.Namespace) -> ScenarioConfig:
    """The config of ``--config`` (or of the run ``--from``) with the options' overrides."""
    overrides = {
        f"scenario.{name}": check_value(SCENARIO, name, getattr(args, name), f"--{name}")
        for name in ("intervals", "speed")
        if getattr(args, name) is not None
    }
    overrides.update(mode_overrides(getattr(args, "mode", None) or "market"))
    from_run = getattr(args, "from_run", None)
    if from_run is not None:
        past = rerun_config(from_run)
        assert past.source is not None
        given = {**dict(past.overrides), **overrides}
        config = load_with_overrides(past.source, given, text=past.source_text)
    elif getattr(args, "scenario", None) is not None:
        if args.config is not None:
            raise ConfigError("pass --scenario NAME or --config TOML, not both")
        config = load_with_overrides(scenario_config(args.scenario), overrides)
    elif args.config is None:
        raise ConfigError("no bench config: pass --config TOML, --scenario NAME or --from RUN_DIR")
    else:
        config = load_with_overrides(args.config, overrides)
    return replace(config, chain_url=args.chain_url) if args.chain_url else config


def runner_from_args(args: argparse.Namespace) -> ScenarioWorker:
    """Build a worker, journaling into ``--journal``, from the parsed options."""
    config = config_from_args(args)
    return ScenarioWorker(config, recorders=[recorder_for(config, args.journal)])


def run_headless(args: argparse.Namespace) -> int:
    """Run to the end without a window; print the summary and the verdict.

    Exit 0 only when every planned interval settled, the audit (the journal replayed:
    amounts, clearing, orders, digests, energy balance, CUSUM) is clean, escrow is
    conserved and every configured meter reported; 1 when the run finished with any of
    those failing or was stopped early (Ctrl-C finishes the interval in progress); 2 on
    an error.
    """
    if getattr(args, "resume_run", None) is not None:
        return resume_headless(args)
    runner = runner_from_args(args)
    runs = getattr(args, "journal", None)
    if runs is not None and Path(runs).is_dir():  # a killed run's Anvil: stopped, state saved
        from bench.scenario.resume import stop_orphans

        for run_dir in stop_orphans(runs):
            _note(
                None,
                f"gridbench: {run_dir} was killed: its Anvil stopped, resume it with "
                f"`gridbench run --resume {run_dir}`",
            )
    return _drive(runner, args)


def _drive(
    runner: ScenarioWorker,
    args: argparse.Namespace,
    recovered: list[dict[str, object]] | None = None,
) -> int:
    """Start ``runner``, follow it to the end and print its summary and verdict."""
    quiet = getattr(args, "quiet", False)
    bar = ProgressBar.for_stderr(runner.config) if not quiet else None
    started_s = time.monotonic()
    runner.start()
    summary: RunSummary | None = None
    with _stop_on_signals(runner) as stopping:
        noted = False
        try:
            while summary is None:
                if stopping.is_set() and not noted:  # the interval in progress ends it: 1
                    _note(bar, "gridbench: interrupted: stopping the run and its chain")
                    noted = True
                try:
                    event = runner.events.get(timeout=0.5)
                except queue.Empty:
                    if not runner.is_alive():
                        break
                    continue
                if bar is not None:
                    bar.follow(event)
                if isinstance(event, WorkerStatus) and event.state is WorkerState.FAILED:
                    continue  # the run ends with it: printed once below
                if isinstance(event, StatusEvent) and (
                    args.verbose or (event.level != "info" and not quiet)
                ):
                    _note(bar, f"[{event.level}] {event.message}")
                elif isinstance(event, IntervalReport) and args.verbose:
                    _note(bar, _interval_line(event))
                elif isinstance(event, RunSummary):
                    summary = event
        finally:
            if stopping.is_set() and not noted:  # the signal came with the last event
                _note(bar, "gridbench: interrupted: stopping the run and its chain")
            if bar is not None:
                bar.close()
        runner.join()
    if summary is None:
        print(f"gridbench: error: {runner.error}", file=sys.stderr)
        return 2
    report, extra = _verdict(summary, runner.error)
    junit = getattr(args, "junit", None)
    if junit is not None and report is not None:
        write_junit(report, junit, extra)
    findings = [*(report.audit.findings if report else ()), *extra]
    if args.json:
        out = summary.as_dict()
        out.update(_speed(runner.config, summary, time.monotonic() - started_s))
        if recovered is not None:  # a resume: what it settled for the killed run
            out["recovered"] = recovered
        out["verdict_pass"] = not findings
        out["findings"] = [message(f) for f in findings]
        print(json.dumps(out, indent=2))
    else:
        print(_summary_line(summary))
        for finding in findings:
            print(f"  {message(finding)}")
        print(f"gridbench: verdict: {'pass' if not findings else 'FAIL'}")
    return 0 if not findings else 1


def resume_headless(args: argparse.Namespace) -> int:
    """``--resume RUN_DIR``: reattach to the killed run's chain and market, settle,
    exactly once, every interval it sent but never recorded (each Settlement printed),
    then run its remaining intervals into the same journal and give the whole run's
    verdict (exit codes as a run's)."""
    from bench.scenario.resume import resume_run

    quiet = getattr(args, "quiet", False)
    resumed = resume_run(
        args.resume_run, (lambda _line: None) if quiet else (lambda line: _note(None, line))
    )
    out = [
        {
            "interval_id": r.settlement.interval_id,
            "tx_hash": r.settlement.tx_hash,
            "block_number": r.settlement.block_number,
            "trades_settled": len(r.settlement.settled_trades),
            "trades_rejected": len(r.settlement.rejected_trades),
            "energy_settled_wh": r.settlement.energy_settled_wh,
            "value_settled_wei": r.settlement.value_settled_wei,
            "sent_again": r.sent_again,
        }
        for r in resumed.recovered
    ]
    for r in resumed.recovered:
        s = r.settlement
        how = "sent again" if r.sent_again else "found on chain"
        _note(
            None,
            f"gridbench: interval {s.interval_id} settled ({how}): "
            f"{len(s.settled_trades)} trades, {s.energy_settled_wh} Wh for "
            f"{labc(s.value_settled_wei)} LABC in {s.tx_hash}",
        )
    if resumed.worker is None:
        if args.json:
            print(json.dumps({"recovered": out, "carried_on": False}, indent=2))
        print(f"gridbench: the run is not carried on: {resumed.why}", file=sys.stderr)
        return 1
    return _drive(resumed.worker, args, recovered=out)


@contextlib.contextmanager
def _stop_on_signals(runner: ScenarioWorker) -> Iterator[threading.Event]:
    """While inside, SIGINT (Ctrl-C) and SIGTERM ask the worker to stop: it finishes the
    interval in progress, locks the supply points, closes their sessions, stops Anvil and
    commits the journal. The event is set once a signal came."""
    stopping = threading.Event()

    def handler(_signum: int, _frame: object) -> None:
        stopping.set()
        runner.stop()

    if threading.current_thread() is not threading.main_thread():
        yield stopping  # signals reach the main thread only: nothing to catch here
        return
    previous = {sig: signal.signal(sig, handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        yield stopping
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _verdict(
    summary: RunSummary, error: BaseException | None
) -> tuple[RunReport | None, list[Finding]]:
    """The journal replayed through the verdict, and what only the live run knows."""
    extra = []
    if not summary.escrow_conserved:
        extra.append(Finding(0, "escrow_not_conserved", "wallets plus market holdings moved"))
    if not summary.audit_clean:
        extra.append(Finding(0, "in_run_audit", "the audit during the run had findings"))
    if error is not None:
        extra.append(Finding(0, "run_error", str(error)))
    if summary.journal_path is None:
        extra.append(Finding(0, "no_journal", "the run kept no journal: nothing to verify"))
        return None, extra
    return replay(summary.journal_path), extra


def _note(bar: ProgressBar | None, line: str) -> None:
    if bar is not None:
        bar.print(line)
    else:
        print(line, file=sys.stderr)


def _interval_line(report: IntervalReport) -> str:
    clearing, settlement = report.pricing.clearing, report.settlement
    price = clearing.price_wei_per_wh
    return (
        f"interval {report.interval_id}: {clearing.volume_wh} Wh cleared at "
        f"{labc_per_kwh(price)} LABC/kWh, "
        f"{len(settlement.settled_trades)} settled, "
        f"{len(settlement.rejected_trades)} rejected"
    )


def _speed(config: ScenarioConfig, summary: RunSummary, wall_s: float) -> dict[str, float]:
    """The run's simulated seconds per wall second, start-up (chain, meters) included."""
    sim_s = summary.intervals * config.market_interval_s
    return {"wall_s": round(wall_s, 3), "sim_to_wall_ratio": round(sim_s / wall_s, 1)}


def _summary_line(summary: RunSummary) -> str:
    return (
        f"gridbench: {summary.meters} meters, {summary.intervals} intervals, "
        f"{summary.trades_settled} trades settled ({summary.trades_rejected} rejected), "
        f"{summary.energy_traded_wh} Wh for {labc(summary.value_settled_wei)} LABC "
        f"on {summary.chain_url}; escrow conserved: {str(summary.escrow_conserved).lower()}; "
        f"audit clean: {str(summary.audit_clean).lower()}; "
        f"journal {summary.journal_path or 'none'}{_attestation_part(summary)}"
    )


def _attestation_part(summary: RunSummary) -> str:
    """ "; meter-signed: a, b; attested by bench: c" (nothing when no meter was registered)."""
    by_kind: dict[str, list[str]] = {"meter": [], "bench": []}
    for meter_id, how in sorted(summary.attestation.items()):
        by_kind.setdefault(how["attestation"], []).append(meter_id)
    parts = [
        f"{label}: {', '.join(by_kind[kind])}"
        for kind, label in (("meter", "meter-signed"), ("bench", "attested by bench"))
        if by_kind[kind]
    ]
    return "".join(f"; {part}" for part in parts)


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``run`` subcommand."""
    parser = subparsers.add_parser(
        "run",
        help="run a configured scenario headless",
        description="Run a bench config to the end without a window and print a summary.",
    )
    add_run_options(parser, default_config=None)
    parser.add_argument(
        "--from",
        dest="from_run",
        type=Path,
        metavar="RUN_DIR",
        help="rerun a past run: its journaled config text and overrides (options still apply)",
    )
    parser.add_argument(
        "--resume",
        dest="resume_run",
        type=Path,
        metavar="RUN_DIR",
        help="a killed run: reattach to its chain (its Anvil restarted from the saved "
        "state), settle, exactly once, each interval it sent but never recorded, and "
        "run the remaining intervals into its journal",
    )
    parser.add_argument(
        "--scenario",
        metavar="NAME",
        help="run a scenario of the bundled library (gridbench scenario list)",
    )
    parser.add_argument(
        "--mode",
        choices=RUN_MODES,
        default="market",
        help="market: the config's local market (default); conventional: none, everyone "
        "buys from and sells to the [grid] at its tariffs, the campus and the city as two "
        'connections ([market] mechanism = "utility"), the counterfactual to compare',
    )
    parser.set_defaults(func=run_headless)
