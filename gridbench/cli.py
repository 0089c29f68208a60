"""The ``gridbench`` command line: one parser, each command's module imported on use.

``gridbench --help`` and ``--version`` import nothing but this module: each command
is listed with its one-line help, and only the command being run has its module (and
that module's dependencies: web3, numpy, Qt …) imported and its options registered.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence

from gridbench import __version__

# command -> (module with register(subparsers), one-line help); a module may add several.
COMMANDS: dict[str, tuple[str, str]] = {
    "demo": ("gridbench.demo", "run the demo scenario (panel if a display is available)"),
    "panel": ("gridbench.demo", "open the control panel on a bench config"),
    "run": ("bench.cli.run", "run a configured scenario headless"),
    "report": ("bench.cli.report", "audit a finished run again from its journal"),
    "config": ("bench.cli.config", "check a bench config; the key reference"),
    "emulate": ("bench.cli.emulate", "run emulated meters (one pty each), benchmarks, ports"),
    "chain": ("bench.cli.chain", "settlement benchmark, local Anvil node"),
    "price": ("bench.cli.price", "market clearing and PDE price benchmarks"),
    "firmware": ("bench.cli.firmware", "meter firmware: build, flash, emulate, bench"),
    "meter": ("bench.cli.meter", "commission a meter: info, provision, calibrate"),
    "scenario": ("bench.cli.scenario", "the bundled scenario library"),
    "compare": ("bench.cli.compare", "two runs' KPIs side by side"),
}


class _Version(argparse.Action):
    """``--version``: the version is looked up only when asked for."""

    def __call__(self, parser: argparse.ArgumentParser, *_args: object) -> None:
        sys.stdout.write(f"gridbench {__version__}\n")
        parser.exit()


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``gridbench`` parser with ``command`` fully registered (the others listed)."""
    parser = argparse.ArgumentParser(
        prog="gridbench",
        description="HIL test bench and control panel for peer-to-peer energy trading.",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    if command in COMMANDS:
        importlib.import_module(COMMANDS[command][0]).register(sub)
    for name, (_module, help_text) in COMMANDS.items():
        if name not in sub.choices:
            sub.add_parser(name, help=help_text, add_help=False)
    return parser


def _command(argv: Sequence[str]) -> str | None:
    """The first word that is not an option: the command, if any."""
    return next((a for a in argv if not a.startswith("-")), None)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``gridbench`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command(argv)).parse_args(argv)
    from bench.errors import BenchError

    try:
        code: int = args.func(args)
    except BenchError as exc:
        print(f"gridbench: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gridbench: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # the reader went away (`gridbench report | head`): no traceback
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())  # so the interpreter's final flush is quiet
        return 1
    return code


if __name__ == "__main__":
    sys.exit(main())
