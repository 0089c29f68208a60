"""``gridbench emulate``: ports are printed and answer; options are validated."""

from __future__ import annotations

import argparse
import json
import threading
import time

import pytest

from bench.cli import emulate
from bench.devices import FirmataMeter
from bench.errors import ConfigError
from bench.fixtures import example_config


def parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="gridbench")
    emulate.register(parser.add_subparsers())
    return parser.parse_args(argv)


def test_emulate_prints_ports_that_answer(capsys: pytest.CaptureFixture[str]) -> None:
    args = parse(["emulate", "--meters", "3", "--power-w", "250", "--duration", "1.5", "--json"])
    result: list[int] = []
    t = threading.Thread(target=lambda: result.append(args.func(args)))
    t.start()
    deadline = time.monotonic() + 5
    out = ""
    while not out and time.monotonic() < deadline:
        time.sleep(0.05)
        out = capsys.readouterr().out
    ports = json.loads(out)
    assert sorted(ports) == ["meter-1", "meter-2", "meter-3"]
    with FirmataMeter.open(ports["meter-2"]) as d:
        assert d.read().power_w == pytest.approx(250.0)
    t.join()
    assert result == [0]


def test_bad_fault_option_is_explained() -> None:
    args = parse(["emulate", "--fault", "drop_rate"])
    with pytest.raises(ConfigError, match="NAME=VALUE"):
        args.func(args)
    args = parse(["emulate", "--fault", "bogus_rate=0.5"])
    with pytest.raises(ConfigError, match="drop_rate"):  # lists the known faults
        args.func(args)


def test_emulate_starts_the_emulated_meters_of_a_config(
    capsys: pytest.CaptureFixture[str],
) -> None:

    example = example_config()
    args = parse(["emulate", "--config", str(example), "--duration", "0.2", "--json"])
    assert args.func(args) == 0
    ports = json.loads(capsys.readouterr().out)
    assert sorted(ports) == ["campus-a", "home-2", "prosumer-1"]  # only the emulated ones


def test_link_faults_strike_the_meters_on_ptys(capsys: pytest.CaptureFixture[str]) -> None:
    faults = ["reboot_every_s=0.2", "unplug_every_s=0.3", "unplug_s=0.1"]
    faults += ["stall_every_s=0.3", "stall_s=0.1"]
    argv = ["emulate", "--meters", "2", "--power-w", "100", "--duration", "2", "--json"]
    args = parse(argv + [a for f in faults for a in ("--fault", f)])
    assert args.func(args) == 0
    fired = [line.split() for line in capsys.readouterr().err.splitlines() if "fault:" in line]
    assert {(f[1], f[2]) for f in fired} == {
        (m, k) for m in ("meter-1", "meter-2") for k in ("reboot", "unplug", "stall")
    }
