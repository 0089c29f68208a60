"""``gridbench firmware``: build, flash, emulate in simavr, benchmark."""

from __future__ import annotations

import argparse
import json
import time

from bench.benchmarks.firmware import format_table, run_benchmark
from bench.cli.common import add_bench_parser
from bench.firmware import build_firmware, firmware_size, flash_board, start_sim_meters
from bench.firmware.build import BOARDS


def _build(args: argparse.Namespace) -> int:
    elf = build_firmware(args.board)
    size = firmware_size(elf, args.board)
    print(f"{elf} and {elf.with_suffix('.hex')}")
    print(
        f"flash {size.flash_bytes} B ({size.flash_fraction:.1%}), "
        f"RAM {size.ram_bytes} B ({size.ram_fraction:.1%})"
    )
    return 0


def _flash(args: argparse.Namespace) -> int:
    flash_board(args.port, args.board, prefer_pio=not args.avrdude)
    return 0


def _emulate(args: argparse.Namespace) -> int:
    meters = start_sim_meters(args.meters, speed=args.speed, id_prefix=args.id_prefix)
    try:
        for i, m in enumerate(meters):
            print(f"meter {args.id_prefix}{i + 1}: {m.pty_path}")
        print("firmware meters running in simavr; Ctrl-C to stop", flush=True)
        while all(m.alive() for m in meters):
            time.sleep(0.5)
        print("a simavr runner exited")
        return 1
    except KeyboardInterrupt:
        return 0
    finally:
        for m in meters:
            m.close()


def _bench(args: argparse.Namespace) -> int:
    result = run_benchmark(quick=args.quick)
    print(json.dumps(result.as_dict(), indent=2) if args.json else format_table(result))
    return 0


def register(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``firmware build|flash|emulate|bench``."""
    fw = subparsers.add_parser("firmware", help="meter firmware: build, flash, emulate, bench")
    sub = fw.add_subparsers(dest="firmware_command", metavar="ACTION", required=True)

    build = sub.add_parser("build", help="build the firmware offline with avr-gcc")
    build.add_argument("--board", choices=BOARDS, default="uno")
    build.set_defaults(func=_build)

    flash = sub.add_parser("flash", help="flash a real board (PlatformIO, else avrdude)")
    flash.add_argument("--port", required=True, help="serial port of the board")
    flash.add_argument("--board", choices=BOARDS, default="uno")
    flash.add_argument("--avrdude", action="store_true", help="use avrdude even if pio exists")
    flash.set_defaults(func=_flash)

    emulate = sub.add_parser("emulate", help="run firmware meters in simavr on ptys")
    emulate.add_argument("--meters", type=int, default=1, metavar="N")
    emulate.add_argument(
        "--speed",
        type=float,
        default=1.0,
        metavar="F",
        help="simulated seconds per real second (0: as fast as possible)",
    )
    emulate.add_argument(
        "--id-prefix", default="sim-", metavar="P", help="meter ids P1 … PN (default: sim-)"
    )
    emulate.set_defaults(func=_emulate)

    add_bench_parser(
        sub,
        help="meters in real time, flash/RAM use, worst accuracy error",
        description="Count how many firmware meters in simavr hold real time on this machine "
        "(relative to one meter measured in the same run), report flash and RAM fractions of "
        "the Uno and the worst metering error over the accuracy cases.",
        quick_help="shorter windows, fewer steps",
        func=_bench,
    )
