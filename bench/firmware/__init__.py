"""The meter firmware from Python: build it, flash a board, run it in simavr."""

from bench.firmware.build import FIRMWARE_DIR, build_firmware, build_runner, firmware_size
from bench.firmware.flash import flash_board
from bench.firmware.sim import SimMeter, Waveform, start_sim_meters

__all__ = [
    "FIRMWARE_DIR",
    "SimMeter",
    "Waveform",
    "build_firmware",
    "build_runner",
    "firmware_size",
    "flash_board",
    "start_sim_meters",
]
