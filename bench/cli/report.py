"""``gridbench report``: audit a finished run again from its journal (read-only)."""

from __future__ import annotations

import argparse
import json
from dataclasses import asdict
from pathlib import Path

from bench.errors import ConfigError
from bench.report import format_report, message, replay
from bench.report.junit import write_junit
from bench.report.kpis import journal_all_kpis


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


def _kpis_json(journal: Path) -> dict[str, object] | None:
    """The run's KPIs, with each area's under ``areas``."""
    found = journal_all_kpis(journal)
    if found is None:
        return None
    run, areas = found
    return {**run.as_json(), "areas": {a: k.as_json() for a, k in areas.items()}}


def _handover(args: argparse.Namespace, path: Path) -> int:
    """Write the HTML, PDF and CSV reports asked for; exit as the verdict says."""
    from bench.report.run_data import load_run  # matplotlib: only when a report is drawn

    data = load_run(path, getattr(args, "chain_url", None))
    if args.html is not None:
        from bench.report.html import write_html

        print(f"gridbench: report {write_html(data, args.html)}")
    if args.pdf is not None:
        from bench.report.html_pdf import write_pdf

        print(f"gridbench: report {write_pdf(data, args.pdf)}")
    if args.csv is not None:
        from bench.report.html_tables import write_csv

        files = write_csv(data, args.csv)
        print(f"gridbench: {len(files)} CSV tables in {args.csv}")
    if getattr(args, "junit", None) is not None:
        write_junit(data.report, args.junit)
    print(f"gridbench: verdict: {data.verdict}")
    return 0 if data.report.clean else 1


def run_report(args: argparse.Namespace) -> int:
    """Print the replayed audit; exit 0 when clean and complete, 1 otherwise (2: error)."""
    path = _journal_path(args.journal, args.runs)
    if any(getattr(args, k, None) is not None for k in ("html", "pdf", "csv")):
        return _handover(args, path)
    report = replay(path, getattr(args, "chain_url", None))
    junit = getattr(args, "junit", None)
    if junit is not None:
        write_junit(report, junit)
    if args.json:
        print(
            json.dumps(
                {
                    "journal": str(report.journal),
                    "intervals": [asdict(r) for r in report.rows],
                    "recovered": [
                        {
                            "interval": i,
                            "tx_hash": tx,
                            "batch_hash": batch,
                            "block_number": block,
                            "value_settled_wei": value,
                            "energy_settled_wh": energy,
                            "sent_again": again,
                        }
                        for i, (tx, batch, block, value, energy, again) in sorted(
                            report.recovered.items()
                        )
                    ],
                    "planned_intervals": report.planned_intervals,
                    "complete": report.complete,
                    "settlements_checked": report.audit.settlements_checked,
                    "value_recomputed_wei": report.audit.value_recomputed_wei,
                    "value_settled_wei": report.audit.value_settled_wei,
                    "cusum_peak_wh": None if report.cusum is None else report.cusum.peak_wh,
                    "cusum_threshold_wh": None
                    if report.cusum is None
                    else report.cusum.threshold_wh,
                    "chain_checked": report.chain_checked,
                    "audit_clean": report.clean,
                    "findings": [message(f) for f in report.audit.findings],
                    "meters": report.meters,
                    "kpis": _kpis_json(report.journal),
                },
                indent=2,
            )
        )
    else:
        print(format_report(report))
    return 0 if report.clean else 1


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``report`` subcommand."""
    parser = subparsers.add_parser(
        "report",
        help="audit a finished run again from its journal",
        description="Replay a run journal (runs/<time>/journal.sqlite, opened read-only) "
        "through the audit: the config's hash and policy, the journal's hash chain, "
        "missing intervals and meters, every order replayed from the metered energy, every "
        "settled amount recomputed, the clearing re-run, the energy balance per interval "
        "and over the run (CUSUM). Exit 0 when clean and complete, 1 when anything is "
        "flagged or the run is incomplete, 2 on an error or a file that is not a journal.",
    )
    parser.add_argument(
        "journal",
        nargs="?",
        type=Path,
        help="journal.sqlite or its run folder (default: the latest under --runs)",
    )
    parser.add_argument("--runs", type=Path, default=Path("runs"), help="where runs are kept")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument(
        "--junit", type=Path, metavar="FILE", help="also write the verdict as JUnit XML"
    )
    parser.add_argument(
        "--chain-url",
        metavar="URL",
        help="reconcile the journal with the chain at this JSON-RPC URL",
    )
    parser.add_argument(
        "--html", type=Path, metavar="OUT", help="write a self-contained HTML report with plots"
    )
    parser.add_argument("--pdf", type=Path, metavar="OUT", help="write the report as a PDF")
    parser.add_argument(
        "--csv", type=Path, metavar="DIR", help="write every table of the report as CSV files"
    )
    parser.set_defaults(func=run_report)
