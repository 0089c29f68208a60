"""Offline builds: every board builds within budget, and PlatformIO would build the same."""

from __future__ import annotations

import configparser
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bench.firmware import FIRMWARE_DIR, build_firmware, firmware_size

pytestmark = pytest.mark.firmware


def test_uno_image_fits_the_flash_and_ram_budget(firmware_images: tuple[Path, Path]) -> None:
    size = firmware_size(firmware_images[0], "uno")
    assert size.flash_bytes > 10_000 and size.flash_fraction <= 0.95  # issue 14's budget
    assert size.ram_bytes > 200 and size.ram_fraction <= 0.75


@pytest.mark.parametrize("board", ["nano", "mega"])
def test_other_boards_build(board: str, firmware_images: tuple[Path, Path]) -> None:
    elf = build_firmware(board)
    assert elf.exists() and elf.with_suffix(".hex").stat().st_size > 0


def _ini() -> configparser.ConfigParser:
    ini = configparser.ConfigParser()
    assert ini.read(FIRMWARE_DIR / "platformio.ini")
    return ini


def test_platformio_ini_declares_the_three_boards() -> None:
    ini = _ini()
    boards = {ini[s]["board"] for s in ini.sections() if s.startswith("env:")}
    assert boards == {"uno", "nanoatmega328new", "megaatmega2560"}
    assert ini["env"]["framework"] == "arduino"
    assert ini["env"]["platform"] == "atmelavr"


def test_platformio_and_makefile_build_the_same_sources(firmware_images: tuple[Path, Path]) -> None:
    ini = _ini()
    src_dir = FIRMWARE_DIR / ini["platformio"]["src_dir"]
    assert not any("src_filter" in k for s in ini.sections() for k in ini[s]), (
        "a source filter would make PlatformIO's list differ from the Makefile's"
    )
    pio_sources = sorted(str(p.relative_to(FIRMWARE_DIR)) for p in src_dir.glob("*.cpp"))
    make = subprocess.run(
        ["make", "-s", "-C", str(FIRMWARE_DIR), "--no-print-directory", "sources"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert make.stdout.split() == pio_sources
    assert "src/main.cpp" in pio_sources


def test_pio_parses_the_project_offline() -> None:
    pio = shutil.which("pio", path=str(Path(sys.executable).parent)) or shutil.which("pio")
    if pio is None:
        pytest.skip("PlatformIO is not installed (pip install platformio)")
    out = subprocess.run(
        [pio, "project", "config", "-d", str(FIRMWARE_DIR), "--json-output"],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    envs = [name for name, _ in json.loads(out.stdout) if name.startswith("env:")]
    assert envs == ["env:uno", "env:nanoatmega328new", "env:megaatmega2560"]


def test_the_nano_flashes_at_optiboots_115200_on_both_paths() -> None:
    """PlatformIO's Nano env is the Optiboot one (nanoatmega328new uploads at 115,200), the
    speed the Makefile's and gridbench's avrdude commands use: the two paths agree."""
    from bench.firmware import flash

    assert flash._PIO_ENVS["nano"] == "nanoatmega328new"
    assert _ini()["env:nanoatmega328new"]["board"] == "nanoatmega328new"
    avrdude = flash._AVRDUDE["nano"]
    assert avrdude[avrdude.index("-b") + 1] == "115200"
    make = (FIRMWARE_DIR / "Makefile").read_text()
    nano = make.split("else ifeq ($(BOARD),nano)")[1].split("else ifeq")[0]
    assert "AVRDUDE_ARGS := -p m328p -c arduino -b 115200" in nano
