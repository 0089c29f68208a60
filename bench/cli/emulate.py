"""``gridbench emulate``: run emulated meters on ptys; ``emulate bench``; ``emulate ports``."""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import threading
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench.cli.common import add_bench_parser
from bench.config import FAULT_FIELDS, Faults, parse_faults
from bench.config.schema import suggest
from bench.errors import ConfigError

if TYPE_CHECKING:
    from bench.emulator.link_faults import LinkFaults


def register(subparsers: Any) -> None:
    """Add ``emulate [run]``, ``emulate bench`` and ``emulate ports``."""
    p: argparse.ArgumentParser = subparsers.add_parser(
        "emulate",
        help="run emulated meters (one pty each); 'bench' runs the meter benchmarks",
        description=(
            "Start emulated gridmeters and print each one's port, until Ctrl-C "
            "('gridbench emulate run' or just 'gridbench emulate'). "
            "'gridbench emulate bench' measures link throughput and meter capacity; "
            "'gridbench emulate ports' lists serial ports and who answers on them."
        ),
    )
    actions = p.add_subparsers(dest="action", metavar="[run | bench | ports]")
    run = actions.add_parser(
        "run",
        help="start emulated meters and print their ports (the default action)",
        description="Start emulated gridmeters and print each one's port, until Ctrl-C.",
    )
    _add_run_options(run)
    bench = add_bench_parser(
        actions,
        help="link throughput at 57600 baud and meters per process",
        description="Measure one paced link's throughput (native and pyfirmata2), "
        "resynchronisation after truncated frames, and how many emulated meters one "
        "process serves at 10 readings/s, against baselines from the same run.",
        quick_help="short benchmark",
        func=_bench,
    )
    bench.add_argument(
        "--mqtt",
        action="store_true",
        help="meters over a private mosquitto (rising to 10,000) against the pty path",
    )
    ports = actions.add_parser(
        "ports",
        help="list serial ports and which meter answers on each",
        description="List the serial ports (serial.tools.list_ports) and ask the "
        "Arduino-like ones who they are; other ports are listed as 'not probed'.",
    )
    ports.add_argument("--json", action="store_true", help="machine-readable output")
    ports.set_defaults(func=_ports)
    _add_run_options(p)


def _add_run_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--meters", type=int, default=1, metavar="N", help="number of meters")
    p.add_argument("--profile", default="household", help="profile spec, e.g. household+pv")
    p.add_argument("--power-w", type=float, help="constant power instead of a profile")
    p.add_argument("--speed", type=float, default=1.0, help="simulated s per real s")
    p.add_argument("--config", type=Path, help="bench config: start its emulated meters")
    p.add_argument("--baud", type=int, default=57600, help="pace each link to this baud rate")
    p.add_argument("--tcp", action="store_true", help="serve socket://127.0.0.1:PORT, not ptys")
    p.add_argument(
        "--fault",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="fault for every meter (repeatable): a rate, e.g. drop_rate=0.01, or link "
        "faults at random instants, e.g. reboot_every_s=600, unplug_every_s=300 "
        "unplug_s=5 (over MQTT: a broker disconnect), stall_every_s=120 stall_s=3",
    )
    p.add_argument("--duration", type=float, help="stop after this many seconds")
    p.add_argument(
        "--mqtt",
        metavar="URL",
        help="publish to this MQTT broker (mqtt://host:port) instead of serving ptys",
    )
    p.add_argument(
        "--processes", type=int, default=1, metavar="P", help="--mqtt: spread meters over P"
    )
    p.add_argument("--prefix", default="gridbench", help="--mqtt: topic prefix")
    p.add_argument("--interval", type=float, default=1.0, help="--mqtt: seconds between readings")
    p.add_argument(
        "--checkpoint-every",
        type=int,
        default=10,
        metavar="K",
        help="--mqtt: a signed checkpoint every K readings (0: none)",
    )
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=_run)


def _faults(items: list[str]) -> tuple[Faults, LinkFaults]:
    """The rate faults and the link faults of ``--fault`` items."""
    from bench.emulator.link_faults import LinkFaults

    out: dict[str, float | bool] = {}
    link: dict[str, float] = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep:
            raise ConfigError(f"--fault {item!r}: write NAME=VALUE, e.g. drop_rate=0.01")
        known = [*FAULT_FIELDS, *LinkFaults.names()]
        if name not in known:
            raise ConfigError(f"unknown fault {name!r} in --fault; {suggest(name, known)}")
        if name == "wrong_firmware":
            out[name] = value.lower() in ("1", "true", "yes")
            continue
        try:
            number = float(value)
        except ValueError as exc:
            raise ConfigError(f"--fault {item!r}: {value!r} is not a number") from exc
        if name in LinkFaults.names():
            link[name] = number
        else:
            out[name] = number
    return parse_faults("--fault", out), LinkFaults(**link)


def _run(args: argparse.Namespace) -> int:
    from bench.emulator import EmulatedMeter, MeterFarm, Profile, emulated_meters
    from bench.emulator.link_faults import LinkFaultScheduler

    faults, link_faults = _faults(args.fault)
    if args.mqtt:
        from bench.emulator.mqtt_procs import MqttOptions, run_processes

        if args.meters < 1 or args.processes < 1:
            raise ConfigError("--meters and --processes must be ≥ 1")
        opts = MqttOptions(
            url=args.mqtt,
            prefix=args.prefix,
            profile=None if args.power_w is not None else args.profile,
            power_w=args.power_w or 0.0,
            interval_s=args.interval,
            checkpoint_every=args.checkpoint_every,
            speed=args.speed,
            faults=faults,
            link_faults=link_faults,
        )
        names = [f"meter-{i + 1}" for i in range(args.meters)]
        if args.json:
            print(json.dumps({"broker": args.mqtt, "prefix": args.prefix, "meters": names}))
        else:
            print(
                f"{len(names)} meters on {args.mqtt} (topics {args.prefix}/meters/ID/…) in "
                f"{args.processes} processes; Ctrl-C stops",
                file=sys.stderr,
                flush=True,
            )
        run_processes(names, opts, args.processes, args.duration)
        return 0

    if args.config:
        from bench.config import load_bench_config

        meters = emulated_meters(load_bench_config(args.config))
    else:
        if args.meters < 1:
            raise ConfigError("--meters must be ≥ 1")
        profile = None if args.power_w is not None else Profile.parse(args.profile)
        meters = [
            EmulatedMeter(
                f"meter-{i + 1}",
                profile,
                power_w=args.power_w or 0.0,
                tcp=args.tcp,
                faults=replace(faults),
            )
            for i in range(args.meters)
        ]
    with (
        MeterFarm(meters, baud=args.baud, speed=args.speed) as farm,
        LinkFaultScheduler(farm.meters.values(), link_faults),
    ):
        ports = {m.meter_id: m.port for m in farm.meters.values()}
        if args.json:
            print(json.dumps(ports), flush=True)
        else:
            for mid, port in ports.items():
                print(f"{mid}\t{port}", flush=True)
            print(f"{len(ports)} meters running; Ctrl-C stops", file=sys.stderr, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait(args.duration)
        if farm.loop_error is not None:
            raise farm.loop_error
    return 0


def _ports(args: argparse.Namespace) -> int:
    from bench.devices.discovery import probe_ports
    from bench.transport.ports import PortInfo, list_serial_ports

    ports = list_serial_ports()  # listed without opening any
    probes = {p.url: p for p in probe_ports([p.device for p in ports if p.arduino_like])}

    def not_probed(p: PortInfo) -> str:
        if p.usb_bridge:
            return f"not probed (a USB-serial bridge): `gridbench meter info --port {p.device}`"
        return "not probed (not an Arduino board)"

    rows = [
        {
            "device": p.device,
            "description": p.description,
            "meter_id": probes[p.device].meter_id if p.device in probes else None,
            "detail": probes[p.device].detail if p.device in probes else not_probed(p),
        }
        for p in ports
    ]
    if args.json:
        print(json.dumps(rows))
    else:
        for r in rows:
            print(f"{r['device']}\t{r['meter_id'] or '-'}\t{r['description']}\t{r['detail']}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from bench.emulator.benchmark import format_table, run_benchmarks

    if args.mqtt:
        from bench.emulator.mqtt_benchmark import format_mqtt_table, run_mqtt_benchmark

        figures = run_mqtt_benchmark(quick=args.quick)
        print(json.dumps(figures) if args.json else format_mqtt_table(figures))
        return 0

    result = run_benchmarks(quick=args.quick)
    print(json.dumps(result) if args.json else format_table(result))
    return 0
