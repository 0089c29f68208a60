"""Build the firmware and the simavr runner with ``make -C firmware``."""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from bench.errors import ToolMissingError

FIRMWARE_DIR = Path(__file__).resolve().parents[2] / "firmware"
BOARDS = ("uno", "nano", "mega")
_FLASH_BYTES = {"uno": 32256, "nano": 30720, "mega": 253952}  # minus the bootloader
_RAM_BYTES = {"uno": 2048, "nano": 2048, "mega": 8192}
_APT = "apt-get install gcc-avr avr-libc arduino-core-avr libsimavr-dev simavr"


@dataclass(frozen=True)
class FirmwareSize:
    """Flash and static RAM use of a built image."""

    flash_bytes: int
    ram_bytes: int
    flash_total: int
    ram_total: int

    @property
    def flash_fraction(self) -> float:
        return self.flash_bytes / self.flash_total

    @property
    def ram_fraction(self) -> float:
        return self.ram_bytes / self.ram_total


def _need(tool: str, what: str) -> None:
    if shutil.which(tool) is None:
        raise ToolMissingError(
            f"{tool} not found (needed to {what}): run `make setup` as root or `{_APT}`"
        )


def _make(*args: str) -> None:
    _need("make", "build the firmware")
    proc = subprocess.run(
        ["make", "-C", str(FIRMWARE_DIR), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise ToolMissingError(
            f"`make -C firmware {' '.join(args)}` failed:\n{proc.stderr.strip()[-2000:]}\n"
            f"Check the AVR toolchain and simavr (`{_APT}`), then retry."
        )


def build_firmware(board: str = "uno") -> Path:
    """Build the firmware for ``board``; return the ELF path (the HEX is next to it)."""
    if board not in BOARDS:
        raise ValueError(f"unknown board {board!r}; use one of {', '.join(BOARDS)}")
    _need("avr-gcc", "build the firmware")
    _make(f"BOARD={board}", "build")
    return FIRMWARE_DIR / "build" / board / "gridmeter.elf"


def build_runner() -> Path:
    """Build the simavr runner; return its path."""
    _need("cc", "build the simavr runner")
    if not Path("/usr/include/simavr/sim_avr.h").exists():
        raise ToolMissingError(f"simavr headers not found: run `{_APT}`")
    _make("sim")
    return FIRMWARE_DIR / "build" / "sim" / "meter_sim"


def firmware_size(elf: Path, board: str = "uno") -> FirmwareSize:
    """Flash (text + data) and RAM (data + bss) of ``elf`` from ``avr-size``."""
    _need("avr-size", "measure the firmware")
    out = subprocess.run(["avr-size", "-A", str(elf)], capture_output=True, text=True, check=True)
    sections = {m[1]: int(m[2]) for m in re.finditer(r"^(\.\w+)\s+(\d+)", out.stdout, re.M)}
    text, data, bss = (sections.get(s, 0) for s in (".text", ".data", ".bss"))
    return FirmwareSize(text + data, data + bss, _FLASH_BYTES[board], _RAM_BYTES[board])
