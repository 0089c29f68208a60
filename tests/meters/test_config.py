"""The meters part of the bench config, and port resolution by identity."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.config import BenchConfig, MeterConfig, load_bench_config, parse_bench_config
from bench.devices.discovery import probe_ports, resolve_ports
from bench.emulator import EmulatedMeter, Faults, MeterFarm, emulated_meters
from bench.errors import ConfigError
from bench.fixtures import example_config

EXAMPLE = example_config()


def test_example_config_loads() -> None:
    cfg = load_bench_config(EXAMPLE)
    kinds = {m.meter_id: m.kind for m in cfg.meters}
    assert kinds == {
        "prosumer-1": "emulated",
        "home-2": "emulated",
        "campus-a": "emulated",
        "lab-meter-1": "firmata",
        "generic-1": "generic",
    }
    assert cfg.meter("lab-meter-1").key == bytes(range(32))
    assert cfg.meter("generic-1").generic is not None
    assert cfg.meter("generic-1").generic.relay_pin == 8  # type: ignore[union-attr]
    ems = emulated_meters(cfg)
    assert [m.meter_id for m in ems] == ["prosumer-1", "home-2", "campus-a"]
    assert ems[1].faults.drop_rate == 0.01
    assert ems[2].power_w == 45000.0


@pytest.mark.parametrize(
    ("meters", "match"),
    [
        ([], "no \\[\\[meters\\]\\]"),
        ([{"kind": "firmata"}], "needs .id."),
        ([{"id": "a", "kind": "quantum"}], "kind 'quantum' is unknown"),
        ([{"id": "a", "kind": "firmata"}], "needs port"),
        ([{"id": "a", "key": "abcd"}], "64 hex digits"),
        ([{"id": "a"}, {"id": "a"}], "unique"),
        ([{"id": "a", "faults": {"meteor": 1}}], "unknown key .meteor."),
        ([{"id": "a", "kind": "generic", "port": "x", "generic": {"pin": 3}}], "unknown key .pin."),
        ([{"id": "a", "power_w": "lots"}], "must be a number"),
    ],
)
def test_invalid_configs_say_what_to_fix(meters: list[dict[str, Any]], match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        parse_bench_config({"meters": meters})


def test_missing_file_points_at_the_example(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"bench\.example\.toml"):
        load_bench_config(tmp_path / "none.toml")


def test_auto_ports_are_found_by_identity(farm: MeterFarm) -> None:
    a = farm.add(EmulatedMeter("lab-a"))
    b = farm.add(EmulatedMeter("lab-b"))
    odd = farm.add(EmulatedMeter("odd", faults=Faults(wrong_firmware=True)))
    cfg = BenchConfig(
        meters=(
            MeterConfig("lab-a", kind="firmata", port="auto"),
            MeterConfig("lab-b", kind="firmata", port="auto"),
            MeterConfig("fixed", kind="firmata", port="/dev/ttyACM9"),
        ),
        reset_wait_s=0.0,
    )
    found = resolve_ports(cfg, candidates=[odd.port, b.port, a.port])
    assert found == {"lab-a": a.port, "lab-b": b.port, "fixed": "/dev/ttyACM9"}
    probes = probe_ports([odd.port], reset_wait_s=0.0)
    assert probes[0].meter_id is None and "wrong firmware" in probes[0].detail
    missing = BenchConfig(
        meters=(MeterConfig("ghost", kind="firmata", port="auto"),), reset_wait_s=0
    )
    with pytest.raises(ConfigError, match=r"ghost.*not found"):
        resolve_ports(missing, candidates=[a.port])


def test_port_listing_flags_arduino_like_ports(monkeypatch: pytest.MonkeyPatch) -> None:
    from types import SimpleNamespace

    from bench.transport import ports

    fake = [
        SimpleNamespace(
            device="/dev/ttyS0",
            description="n/a",
            hwid="n/a",
            vid=None,
            pid=None,
            serial_number=None,
        ),
        SimpleNamespace(
            device="/dev/ttyACM0",
            description="Arduino Uno",
            hwid="USB",
            vid=0x2341,
            pid=0x0043,
            serial_number="123",
        ),
        SimpleNamespace(
            device="/dev/ttyX",
            description="CH340",
            hwid="USB",
            vid=0x1A86,
            pid=0x7523,
            serial_number=None,
        ),
    ]
    monkeypatch.setattr(ports.list_ports, "comports", lambda: fake)
    assert [p.device for p in ports.list_serial_ports()] == [
        "/dev/ttyACM0",
        "/dev/ttyS0",
        "/dev/ttyX",
    ]
    assert [p.device for p in ports.list_serial_ports(arduino_only=True)] == ["/dev/ttyACM0"]
    assert [p.device for p in ports.list_serial_ports() if p.usb_bridge] == ["/dev/ttyX"]
