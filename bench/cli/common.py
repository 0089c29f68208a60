"""Pieces shared by the subcommands."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def add_bench_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser],
    *,
    help: str,
    description: str,
    quick_help: str,
    func: Callable[[argparse.Namespace], int],
) -> argparse.ArgumentParser:
    """Add a ``bench`` action with ``--json`` and ``--quick``; return it for more options."""
    bench = sub.add_parser("bench", help=help, description=description)
    bench.add_argument("--json", action="store_true", help="print the figures as JSON")
    bench.add_argument("--quick", action="store_true", help=quick_help)
    bench.set_defaults(func=func)
    return bench
