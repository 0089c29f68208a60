"""``gridbench config``: check a bench config; print the key reference."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from bench.config import load_scenario
from bench.config.reference import reference_markdown, resolved_toml


def _check(args: argparse.Namespace) -> int:
    print(resolved_toml(load_scenario(args.file)))
    print(f"gridbench: {args.file} is valid", file=sys.stderr)
    return 0


def _reference(args: argparse.Namespace) -> int:
    text = reference_markdown()
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.write_text(text)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``config check`` and ``config reference``."""
    config = subparsers.add_parser("config", help="check a bench config; the key reference")
    sub = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    check = sub.add_parser(
        "check",
        help="validate a bench config and print it with every default filled in",
        description="Read FILE as the bench would (every table and key, ranges, key files, "
        "the market's pricing objects) and print the resolved config, or the errors "
        "(exit 2). Nothing is started.",
    )
    check.add_argument("file", type=Path, metavar="FILE")
    check.set_defaults(func=_check)
    ref = sub.add_parser(
        "reference",
        help="print the reference of every key (docs/config.md)",
        description="Print the Markdown reference of every table and key with its unit, "
        "default and range, generated from the schema.",
    )
    ref.add_argument("-o", "--output", type=Path, metavar="MD", help="write it here instead")
    ref.set_defaults(func=_reference)
