"""Flash a real board: PlatformIO when installed, else avrdude with the built HEX."""

from __future__ import annotations

import shutil
import subprocess

from bench.errors import DeviceError, ToolMissingError
from bench.firmware.build import FIRMWARE_DIR, build_firmware

_PIO_ENVS = {"uno": "uno", "nano": "nanoatmega328", "mega": "megaatmega2560"}
_AVRDUDE = {
    "uno": ["-p", "m328p", "-c", "arduino", "-b", "115200"],
    "nano": ["-p", "m328p", "-c", "arduino", "-b", "115200"],
    "mega": ["-p", "m2560", "-c", "wiring", "-b", "115200", "-D"],
}


def flash_command(port: str, board: str = "uno", *, prefer_pio: bool = True) -> list[str]:
    """The command that flashes ``board`` on ``port``."""
    pio = shutil.which("pio") or shutil.which("platformio")
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
            "neither PlatformIO nor avrdude found: `pip install platformio` (needs internet "
            "for its AVR platform) or `apt-get install avrdude`, then retry"
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
