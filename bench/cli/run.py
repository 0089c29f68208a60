"""``gridbench run``: a configured scenario, headless, with a one-line or JSON summary."""

from __future__ import annotations

import argparse
import json
import queue
import sys
from pathlib import Path

from bench.config import load_scenario
from bench.events import IntervalReport, RunSummary, StatusEvent, WorkerState, WorkerStatus
from bench.scenario.worker import ScenarioWorker
from bench.store import JournalRecorder


def add_run_options(parser: argparse.ArgumentParser, default_config: Path | None) -> None:
    """Options shared by ``run``, ``demo`` and ``panel``."""
    parser.add_argument(
        "--config",
        type=Path,
        default=default_config,
        required=default_config is None and parser.prog.endswith(" run"),
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


def runner_from_args(args: argparse.Namespace) -> ScenarioWorker:
    """Build a worker, journaling into ``--journal``, from the parsed options."""
    config = load_scenario(
        args.config,
        intervals=args.intervals,
        speed=args.speed,
        chain_url=args.chain_url,
    )
    return ScenarioWorker(config, recorders=[JournalRecorder(args.journal)])


def run_headless(args: argparse.Namespace) -> int:
    """Run to the end without a window; print the summary; exit 0 only if all is well."""
    runner = runner_from_args(args)
    runner.start()
    summary: RunSummary | None = None
    while summary is None:
        try:
            event = runner.events.get(timeout=0.5)
        except queue.Empty:
            if not runner.is_alive():
                break
            continue
        if isinstance(event, WorkerStatus) and event.state is WorkerState.FAILED:
            continue  # the run ends with it: printed once below
        if isinstance(event, StatusEvent) and (args.verbose or event.level != "info"):
            print(f"[{event.level}] {event.message}", file=sys.stderr)
        elif isinstance(event, IntervalReport) and args.verbose:
            print(_interval_line(event), file=sys.stderr)
        elif isinstance(event, RunSummary):
            summary = event
    runner.join()
    if summary is None:
        print(f"gridbench: error: {runner.error}", file=sys.stderr)
        return 2
    if args.json:
        print(json.dumps(summary.as_dict(), indent=2))
    else:
        print(_summary_line(summary))
    return 0 if summary.escrow_conserved and runner.error is None else 1


def _interval_line(report: IntervalReport) -> str:
    clearing, settlement = report.pricing.clearing, report.settlement
    price = clearing.price_wei_per_wh
    return (
        f"interval {report.interval_id}: {clearing.volume_wh} Wh cleared at "
        f"{'-' if price is None else price} wei/Wh, {len(settlement.settled_trades)} settled, "
        f"{len(settlement.rejected_trades)} rejected"
    )


def _summary_line(summary: RunSummary) -> str:
    return (
        f"gridbench: {summary.meters} meters, {summary.intervals} intervals, "
        f"{summary.trades_settled} trades settled ({summary.trades_rejected} rejected), "
        f"{summary.energy_traded_wh} Wh for {summary.value_settled_wei / 1e6:.6f} LABC "
        f"on {summary.chain_url}; escrow conserved: {str(summary.escrow_conserved).lower()}; "
        f"audit clean: {str(summary.audit_clean).lower()}{_attestation_part(summary)}"
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
    parser.set_defaults(func=run_headless)
