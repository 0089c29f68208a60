"""An emulated meter's EEPROM kept in a file (:mod:`bench.emulator.memory`): a meter
whose process died comes back from the file as a board comes back from a power cut.

The oracle is what the host saw over the wire before the "kill" (the file copied at that
instant is all that survives): the restored meter's counters are never below a reading
it sent, its signing key is the one it signed with, and it never signs a seq twice.
"""

from __future__ import annotations

import os
import shutil
import stat
from pathlib import Path

import pytest

from bench.devices import FirmataMeter
from bench.emulator import EmulatedMeter, MeterFarm
from bench.emulator.memory import MemoryFile
from bench.errors import ConfigError


def _survivor(memory: Path, tmp_path: Path) -> Path:
    """The memory file as it is this instant: what a kill -9 now would leave."""
    kept = tmp_path / "survived" / memory.name
    kept.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy(memory, kept)
    return kept


def test_a_meter_comes_back_from_its_memory_as_the_host_last_saw_it(
    fast_farm: MeterFarm, tmp_path: Path
) -> None:
    memory = tmp_path / "kept.eeprom"
    meter = fast_farm.add(EmulatedMeter("kept", power_w=2000.0, memory=memory))
    assert not meter.restored
    assert stat.S_IMODE(memory.stat().st_mode) == 0o600  # it holds the meter's keys
    with FirmataMeter.open(meter.port) as driver:
        signed = driver.signed_reading()
        signer = driver.signer_address()
        reading = driver.read()  # the last thing the host saw: a reading after it
        after_reading = _survivor(memory, tmp_path)
        last_signed = driver.signed_reading()
        after_signed = _survivor(memory, tmp_path / "signed")
    assert reading.energy_import_wh > signed.import_wh > 0  # (it was counting)
    back = EmulatedMeter("kept", power_w=0.0, memory=after_reading)
    assert back.restored
    imported_wh, _ = back.energy_wh()
    assert imported_wh >= reading.energy_import_wh  # never below what it reported
    with MeterFarm(speed=3600.0) as farm:
        back_signed = farm.add(EmulatedMeter("kept", power_w=0.0, memory=after_signed))
        with FirmataMeter.open(back_signed.port) as driver:
            assert driver.signer_address() == signer  # the key it signed with
            again = driver.signed_reading()
    assert again.seq > last_signed.seq  # never a seq it signed before
    assert again.import_wh >= last_signed.import_wh and again.time_s >= last_signed.time_s


def test_a_fresh_meter_has_no_memory_to_come_back_from(tmp_path: Path) -> None:
    assert MemoryFile.load(tmp_path / "none.eeprom", "none") is None
    (tmp_path / "empty.eeprom").write_bytes(b"")
    assert MemoryFile.load(tmp_path / "empty.eeprom", "empty") is None


def test_a_memory_file_others_can_read_is_refused(tmp_path: Path) -> None:
    memory = tmp_path / "open.eeprom"
    memory.write_bytes(b"")
    os.chmod(memory, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        EmulatedMeter("open", memory=memory)


def test_a_damaged_or_foreign_memory_is_refused_with_advice(tmp_path: Path) -> None:
    memory = tmp_path / "one.eeprom"
    EmulatedMeter("one", power_w=10.0, memory=memory)
    with pytest.raises(ConfigError, match="belongs to meter 'one'"):
        MemoryFile.load(memory, "other")
    memory.write_bytes(memory.read_bytes()[:40])
    with pytest.raises(ConfigError, match=r"damaged .* delete it"):
        MemoryFile.load(memory, "one")
