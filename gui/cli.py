"""The ``gridbench`` command line: one parser, subcommands registered by each area."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from bench.cli import chain, emulate, firmware, price, report, run
from bench.errors import BenchError
from gui import cli_panel

# Areas that contribute subcommands: each module has register(subparsers).
_AREAS = (cli_panel, run, report, emulate, chain, price, firmware)


def build_parser() -> argparse.ArgumentParser:
    """Build the full ``gridbench`` parser."""
    parser = argparse.ArgumentParser(
        prog="gridbench",
        description="HIL test bench and control panel for peer-to-peer energy trading.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for area in _AREAS:
        area.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridbench`` console script."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        code: int = args.func(args)
    except BenchError as exc:
        print(f"gridbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gridbench: interrupted", file=sys.stderr)
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
