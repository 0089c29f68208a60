"""``gridbench price``: the pricing benchmark."""

from __future__ import annotations

import argparse
import json

from bench.benchmarks.pricing import format_table, run_benchmark
from bench.cli.common import add_bench_parser


def run_bench(args: argparse.Namespace) -> int:
    """Run the pricing benchmark and print a table (or JSON)."""
    result = run_benchmark(quick=args.quick)
    print(json.dumps(result.as_dict(), indent=2) if args.json else format_table(result))
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add ``price bench``."""
    price = subparsers.add_parser("price", help="market clearing and PDE price benchmarks")
    sub = price.add_subparsers(dest="price_command", metavar="ACTION", required=True)
    add_bench_parser(
        sub,
        help="pay-as-clear on 1M orders, speed-up over the LP, one PDE re-solve",
        description="Time pay-as-clear on 1,000,000 orders, compare with the welfare LP "
        "(HiGHS) on the same 100,000-order book, and time one re-solve of the storage HJB "
        "with its error against the closed forms, all in the same run.",
        quick_help="10x smaller books, fewer repeats",
        func=run_bench,
    )
