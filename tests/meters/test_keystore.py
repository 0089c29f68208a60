"""Relay keystore files: created private, never overwritten by accident, refused when
public or malformed; the configured file is the key the rig uses."""

from __future__ import annotations

import os
import queue
import stat
from pathlib import Path
from typing import Any

import pytest

from bench.config import BenchConfig, MeterConfig
from bench.devices import MeterOutage, Reading
from bench.devices.keystore import fingerprint, read_key_file, relay_key, write_key_file
from bench.emulator import EmulatedMeter, MeterFarm
from bench.errors import ConfigError
from bench.rig import Rig


def test_a_keystore_is_created_0600_even_under_a_permissive_umask(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "m.key"
    key = os.urandom(32)
    old = os.umask(0)
    try:
        write_key_file(path, key)
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert read_key_file(path) == key
    assert path.read_text() == key.hex() + "\n"
    assert list(path.parent.iterdir()) == [path]  # no temporary file left behind


def test_an_existing_keystore_is_kept_unless_replaced(tmp_path: Path) -> None:
    path = tmp_path / "m.key"
    first, second = os.urandom(32), os.urandom(32)
    write_key_file(path, first)
    with pytest.raises(ConfigError, match="exists already"):
        write_key_file(path, second)
    assert read_key_file(path) == first
    write_key_file(path, second, replace=True)
    assert read_key_file(path) == second


def test_public_or_malformed_keystores_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "m.key"
    write_key_file(path, os.urandom(32))
    path.chmod(0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        read_key_file(path)
    path.write_text("00" * 31 + "\n")
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="64 hex digits"):
        read_key_file(path)
    path.write_text("zz" * 32)
    with pytest.raises(ConfigError, match="64 hex digits"):
        read_key_file(path)


def test_fingerprints_name_keys_without_revealing_them() -> None:
    key = bytes(range(32))
    assert fingerprint(bytes(32)) == "default (all zero)"
    assert fingerprint(key) != fingerprint(bytes(range(1, 33)))
    assert key.hex()[:16] not in fingerprint(key) and len(fingerprint(key)) == 16


def _first_events(rig: Rig, meter_id: str) -> list[Any]:
    out: queue.Queue[Any] = queue.Queue()
    got: list[Any] = []
    with rig.poller(meter_id, out):
        while not any(isinstance(e, Reading | MeterOutage) for e in got):
            got.append(out.get(timeout=10))
    return got


def test_the_rig_opens_a_board_with_its_keystore_key_and_refuses_the_default(
    farm: MeterFarm, tmp_path: Path
) -> None:
    key = os.urandom(32)
    path = tmp_path / "board.key"
    write_key_file(path, key)
    board = farm.add(EmulatedMeter("board", power_w=500.0, key=key))
    config = MeterConfig("board", kind="firmata", port=board.port, relay_key_file=path)
    assert relay_key(config) == key
    with Rig(BenchConfig(meters=(config,), reset_wait_s=0.0)) as rig:
        out: queue.Queue[Any] = queue.Queue()
        with rig.poller("board", out) as poller:
            poller.set_relay(False).result(timeout=5)  # only the keystore key does this
        assert board.relay_closed is False
    fresh = farm.add(EmulatedMeter("fresh", power_w=500.0))
    bare = MeterConfig("fresh", kind="firmata", port=fresh.port)
    with Rig(BenchConfig(meters=(bare,), reset_wait_s=0.0)) as rig:
        events = _first_events(rig, "fresh")
    assert isinstance(events[-1], MeterOutage)
    assert "default (all-zero) relay key" in events[-1].reason
    assert "gridbench meter provision" in events[-1].reason
