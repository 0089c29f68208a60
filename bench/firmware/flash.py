"""Flash a real board: PlatformIO when installed, else avrdude with the built HEX."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from bench.errors import DeviceError, ToolMissingError
from bench.firmware.build import FIRMWARE_DIR, build_firmware

_PIO_ENVS = {"uno": "uno", "nano": "nanoatmega328new", "mega": "megaatmega2560"}
_AVRDUDE = {
    "uno": ["-p", "m328p", "-c", "arduino", "-b", "115200"],
    "nano": ["-p", "m328p", "-c", "arduino", "-b", "115200"],
    "mega": ["-p", "m2560", "-c", "wiring", "-b", "115200", "-D"],
}


def _pio_with_avr_platform() -> str | None:
    """``pio`` if its atmelavr platform is installed (it is downloaded on first use)."""
    pio = shutil.which("pio") or shutil.which("platformio")
    core = Path(os.environ.get("PLATFORMIO_CORE_DIR", Path.home() / ".platformio"))
    return pio if pio and (core / "platforms" / "atmelavr").is_dir() else None


def flash_command(port: str, board: str = "uno", *, prefer_pio: bool = True) -> list[str]:
    """The command that flashes ``board`` on ``port``: PlatformIO if it can work offline
    (its AVR platform is installed), else avrdude with the HEX built here."""
    pio = _pio_with_avr_platform()
    if prefer_pio and pio:
        return [
            pio,
            "run",
            "-d",
            str(FIRMWARE_DIR),
            "-e",
            _PIO_ENVS[board],
            "-t",
            "upload",
            "--upload-port",
            port,
        ]
    if shutil.which("avrdude") is None:
        raise ToolMissingError(
            "avrdude not found and PlatformIO has no AVR platform: `apt-get install avrdude`, "
            "or run `pio run -d firmware` once with internet access, then retry"
        )
    hexfile = build_firmware(board).with_suffix(".hex")
    return ["avrdude", *_AVRDUDE[board], "-P", port, "-U", f"flash:w:{hexfile}:i"]


def flash_board(port: str, board: str = "uno", *, prefer_pio: bool = True) -> None:
    """Flash the firmware onto the board on ``port``."""
    cmd = flash_command(port, board, prefer_pio=prefer_pio)
    proc = subprocess.run(cmd, check=False)
    if proc.returncode != 0:
        raise DeviceError(
            f"flashing {port} failed ({' '.join(cmd[:3])}…, exit {proc.returncode}): check the "
            "port and board type, close other programs using the port, and retry"
        )
