"""``gridbench scenario``: the bundled scenario library."""

from __future__ import annotations

import argparse

from bench.fixtures import SCENARIO_TITLES, scenario_config


def run_list(args: argparse.Namespace) -> int:
    """Print each library scenario's name, what it runs and its file."""
    width = max(len(n) for n in SCENARIO_TITLES)
    for name, title in SCENARIO_TITLES.items():
        line = f"{name:<{width}}  {title}"
        print(f"{line}\n{'':<{width}}  {scenario_config(name)}" if args.paths else line)
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``scenario`` subcommand."""
    parser = subparsers.add_parser(
        "scenario",
        help="the bundled scenario library",
        description="The scenarios bundled with gridbench; run one with "
        "`gridbench run --scenario NAME`.",
    )
    sub = parser.add_subparsers(dest="scenario_command", metavar="SUBCOMMAND", required=True)
    listing = sub.add_parser("list", help="list the library's scenarios")
    listing.add_argument("--paths", action="store_true", help="also print each config's path")
    listing.set_defaults(func=run_list)
