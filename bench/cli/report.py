"""``gridbench report``: audit a finished run again from its journal."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from bench.errors import ConfigError
from bench.report import format_report, replay


def _journal_path(given: Path | None, runs: Path) -> Path:
    if given is not None:
        return given / "journal.sqlite" if given.is_dir() else given
    journals = sorted(runs.glob("*/journal.sqlite"))
    if not journals:
        raise ConfigError(
            f"no run journal under {runs}/; run `gridbench demo` or `gridbench run` first, "
            "or pass the journal's path"
        )
    return journals[-1]


def run_report(args: argparse.Namespace) -> int:
    """Print the replayed audit; exit 1 when it has findings."""
    report = replay(_journal_path(args.journal, args.runs))
    if args.json:
        print(
            json.dumps(
                {
                    "journal": str(report.journal),
                    "intervals": [asdict(r) for r in report.rows],
                    "settlements_checked": report.audit.settlements_checked,
                    "value_recomputed_wei": report.audit.value_recomputed_wei,
                    "value_settled_wei": report.audit.value_settled_wei,
                    "audit_clean": report.audit.clean,
                    "findings": list(report.audit.messages()),
                    "meters": report.meters,
                },
                indent=2,
            )
        )
    else:
        print(format_report(report))
    return 0 if report.audit.clean else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="audit a finished run again from its journal",
        description="Replay a run journal (runs/<time>/journal.sqlite) through the audit: "
        "every settled trade recomputed to the wei, the clearing re-run on the recorded "
        "book, the energy balance closed with the feeder meter. Exit 1 if anything is "
        "flagged.",
    )
    parser.add_argument(
        "journal",
        nargs="?",
        type=Path,
        help="journal.sqlite or its run folder (default: the latest under --runs)",
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where runs are kept")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.set_defaults(func=run_report)
