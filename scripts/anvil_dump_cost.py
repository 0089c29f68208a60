"""What saving Anvil's whole state costs as a run's chain grows: CPU seconds per dump
(Anvil's process and the bench's), the state's size, against the CPU one settlement
takes, over a week of intervals.

    PYTHONPATH=. .venv/bin/python scripts/anvil_dump_cost.py [--intervals 336] [--meters 41]

A fresh market on a fresh Anvil, ``--meters`` bench-attested participants, each interval
settled as a run settles it (one signed book, ``--trades`` trades, a fresh signed
reading per meter); the state is dumped after every interval, as the issue asked, and
each dump's cost measured: Anvil's CPU from ``/proc/<pid>/stat``, the bench's from
``time.process_time`` (decompressing and writing the file). CPU seconds, not wall time:
the machine is shared. Prints one row per checkpoint and the totals over the run.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from pathlib import Path

from bench.chain import Anvil
from bench.chain.benchmark import DEPOSIT_WEI, _Meters, random_trades
from bench.chain.market import Market

_TICKS_S = os.sysconf("SC_CLK_TCK")


def _cpu_s(pid: int) -> float:
    """A process's user + system CPU seconds so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICKS_S


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--intervals", type=int, default=336)
    parser.add_argument("--meters", type=int, default=41)
    parser.add_argument("--trades", type=int, default=40)
    parser.add_argument("--every", type=int, default=48, help="print a row this often")
    args = parser.parse_args()
    rng = random.Random(1)
    names = [f"m{n:02d}" for n in range(args.meters)]
    with tempfile.TemporaryDirectory() as folder, Anvil() as node:
        assert node.pid is not None
        market = Market.deploy(node.url, max_interval_step=1)
        market.add_participants(names, DEPOSIT_WEI)
        meters = _Meters(market, names)
        state = Path(folder) / "anvil-state.json"
        totals = {"settle_anvil": 0.0, "dump_anvil": 0.0, "dump_bench": 0.0, "dump_wall": 0.0}
        print("interval  state_MB  dump_anvil_cpu_s  dump_bench_cpu_s  settle_anvil_cpu_s")
        for i in range(1, args.intervals + 1):
            trades = random_trades(names, args.trades, rng)
            book, readings = market.settler.sign_book(i, trades), meters.next()
            before = _cpu_s(node.pid)
            market.settle_interval(i, trades, readings, book=book)
            settle_s = _cpu_s(node.pid) - before
            before, bench_before = _cpu_s(node.pid), time.process_time()
            wall_before = time.monotonic()
            node.dump_state(state)
            dump_anvil_s = _cpu_s(node.pid) - before
            dump_bench_s = time.process_time() - bench_before
            totals["settle_anvil"] += settle_s
            totals["dump_anvil"] += dump_anvil_s
            totals["dump_bench"] += dump_bench_s
            totals["dump_wall"] += time.monotonic() - wall_before
            if i == 1 or i % args.every == 0 or i == args.intervals:
                print(
                    f"{i:8d}  {state.stat().st_size / 1e6:8.1f}  {dump_anvil_s:16.3f}  "
                    f"{dump_bench_s:16.3f}  {settle_s:18.3f}"
                )
        print(
            f"over {args.intervals} intervals: settling took {totals['settle_anvil']:.1f} Anvil "
            f"CPU s; a dump after every interval {totals['dump_anvil']:.1f} Anvil CPU s + "
            f"{totals['dump_bench']:.1f} bench CPU s ({totals['dump_wall']:.1f} s wall)"
        )


if __name__ == "__main__":
    main()
