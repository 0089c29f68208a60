"""Choosing the flashing tool: PlatformIO only when it can work offline, else avrdude."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from bench.errors import ToolMissingError
from bench.firmware import flash

pytestmark = pytest.mark.firmware


def _fake_tool(directory: Path, name: str) -> None:
    tool = directory / name
    tool.write_text("#!/bin/sh\nexit 0\n")
    tool.chmod(0o755)


def _only_path(monkeypatch: pytest.MonkeyPatch, bin_dir: Path) -> None:
    # keep the AVR toolchain reachable for the HEX build, hide any real pio/avrdude
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}/usr/bin{os.pathsep}/bin")


def test_avrdude_flashes_the_built_hex_when_pio_has_no_avr_platform(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, firmware_images: tuple[Path, Path]
) -> None:
    _fake_tool(tmp_path, "avrdude")
    _fake_tool(tmp_path, "pio")
    _only_path(monkeypatch, tmp_path)
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path / "pio-core"))
    cmd = flash.flash_command("/dev/ttyACM7", "uno")
    assert Path(cmd[0]).name == "avrdude"
    assert cmd[cmd.index("-P") + 1] == "/dev/ttyACM7"
    assert cmd[-1].endswith("build/uno/gridmeter.hex:i")


def test_pio_uploads_when_its_avr_platform_is_installed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _fake_tool(tmp_path, "pio")
    _only_path(monkeypatch, tmp_path)
    (tmp_path / "core" / "platforms" / "atmelavr").mkdir(parents=True)
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path / "core"))
    cmd = flash.flash_command("/dev/ttyUSB0", "mega")
    assert cmd[1:] == [
        "run", "-d", str(flash.FIRMWARE_DIR), "-e", "megaatmega2560", "-t", "upload",
        "--upload-port", "/dev/ttyUSB0",
    ]  # fmt: skip


def test_no_tool_says_what_to_install(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    if Path("/usr/bin/avrdude").exists():
        pytest.skip("avrdude is installed system-wide")
    _only_path(monkeypatch, tmp_path)
    monkeypatch.setenv("PLATFORMIO_CORE_DIR", str(tmp_path / "none"))
    with pytest.raises(ToolMissingError, match="apt-get install avrdude"):
        flash.flash_command("/dev/ttyACM0")
