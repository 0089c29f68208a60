"""An emulated meter's EEPROM kept in a file, so it survives the process that runs it.

A board keeps its counters, keys and signed-reading sequence in EEPROM across a power
cut; an emulated meter lives in the bench's process and would come back from a killed
bench with its counters at 0 and a new signing key. With a memory file it comes back as
the board would: :meth:`MemoryFile.save` is called before the meter reports anything
(a reading, a signed reading, a latched boundary, a relay switch), so what the outside
world saw is never above what the file holds. The file is written in place with one
``pwrite`` of a fixed-size record (a killed process cannot leave half of it) and is
private (mode 0600): it holds the meter's keys.
"""

from __future__ import annotations

import json
import os
import stat
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from bench.devices.reading import Calibration
from bench.emulator.device import Eeprom
from bench.errors import ConfigError

RECORD_BYTES = 1024
_FORMAT = 1
_KEY_FIELDS = ("key", "signing_key")


class MemoryFile:
    """The file an emulated meter's :class:`Eeprom` is kept in (open until :meth:`close`)."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        if stat.S_IMODE(os.fstat(fd).st_mode) & 0o077:
            os.close(fd)
            raise ConfigError(
                f"meter memory {self.path} is readable by others (it holds the meter's "
                f"keys): run `chmod 600 {self.path}`"
            )
        self._fd: int | None = fd
        self._last = b""

    @staticmethod
    def load(path: Path, meter_id: str) -> Eeprom | None:
        """The EEPROM saved at ``path`` (None when there is no such file or it is empty)."""
        path = Path(path)
        try:
            raw = path.read_bytes().rstrip(b" \n\0")
        except FileNotFoundError:
            return None
        if not raw:
            return None
        try:
            saved: dict[str, Any] = json.loads(raw)
            if saved.pop("format") != _FORMAT:
                raise ValueError("unknown format")
            for name in _KEY_FIELDS:
                if saved[name] is not None:
                    saved[name] = bytes.fromhex(saved[name])
            saved["calibration"] = Calibration(**saved["calibration"])
            eeprom = Eeprom(**saved)
        except (ValueError, KeyError, TypeError) as exc:
            raise ConfigError(
                f"meter memory {path} is damaged ({exc}): delete it to start the meter "
                "afresh (its counters from 0, a new signing key)"
            ) from exc
        if eeprom.meter_id != meter_id:
            raise ConfigError(
                f"meter memory {path} belongs to meter {eeprom.meter_id!r}, not {meter_id!r}: "
                "point the run at its own folder or delete the file"
            )
        return eeprom

    def save(self, eeprom: Eeprom) -> None:
        """Write ``eeprom`` now (nothing when it has not changed since the last save)."""
        if self._fd is None:
            return
        values = {f.name: getattr(eeprom, f.name) for f in fields(eeprom)}
        values["calibration"] = asdict(eeprom.calibration)
        for name in _KEY_FIELDS:
            if values[name] is not None:
                values[name] = values[name].hex()
        record = json.dumps({"format": _FORMAT, **values}, separators=(",", ":")).encode()
        if record == self._last:
            return
        if len(record) >= RECORD_BYTES:
            raise ConfigError(f"meter {eeprom.meter_id}'s memory outgrew {RECORD_BYTES} bytes")
        os.pwrite(self._fd, record.ljust(RECORD_BYTES - 1) + b"\n", 0)
        self._last = record

    def close(self) -> None:
        """Stop keeping the memory (idempotent)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
