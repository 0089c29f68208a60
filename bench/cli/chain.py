"""``gridbench chain``: the settlement benchmark and a local Anvil node."""

from __future__ import annotations

import argparse
import contextlib
import json
import signal
import threading
from pathlib import Path

from bench.chain.anvil import Anvil
from bench.chain.benchmark import format_table, run_benchmark
from bench.cli.common import add_bench_parser


def run_bench(args: argparse.Namespace) -> int:
    """Run the chain benchmark on a fresh Anvil (or the node at --chain-url)."""
    if args.chain_url:
        result = run_benchmark(args.chain_url, quick=args.quick)
    else:
        with Anvil() as anvil:
            result = run_benchmark(anvil.url, quick=args.quick)
    print(json.dumps(result.as_dict(), indent=2) if args.json else format_table(result))
    return 0


def run_anvil(args: argparse.Namespace) -> int:
    """Run a local Anvil until interrupted; its state is dumped on exit if asked."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    node = Anvil(port=args.port, load_state=args.load_state, dump_state_on_stop=args.dump_state)
    with node:
        print(
            f"anvil listening on {node.url} (chain id {node.chain_id}); Ctrl-C stops it", flush=True
        )
        with contextlib.suppress(KeyboardInterrupt):
            stop.wait()
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``chain bench`` and ``chain anvil``."""
    chain = subparsers.add_parser("chain", help="settlement benchmark, local Anvil node")
    sub = chain.add_subparsers(dest="chain_command", metavar="ACTION", required=True)

    bench = add_bench_parser(
        sub,
        help="batched settlement vs one transaction per trade",
        description="Settle intervals of 1,000 trades among 50 participants and compare "
        "with one transaction per trade, on the same node in the same run.",
        quick_help="2 intervals, 50 baseline trades",
        func=run_bench,
    )
    bench.add_argument("--chain-url", metavar="URL", help="use this node instead of a fresh Anvil")

    anvil = sub.add_parser(
        "anvil",
        help="run a local Anvil node until Ctrl-C",
        description="Start the project's Anvil on loopback (a free port unless --port is "
        "given), print its URL, and stop it cleanly on Ctrl-C, writing --dump-state if asked. "
        "Pass the URL to other commands with --chain-url.",
    )
    anvil.add_argument("--port", type=int, help="TCP port (default: a free one)")
    anvil.add_argument("--load-state", type=Path, metavar="FILE", help="start from this state")
    anvil.add_argument(
        "--dump-state", type=Path, metavar="FILE", help="write the state here on exit"
    )
    anvil.set_defaults(func=run_anvil)
