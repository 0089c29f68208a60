"""Serial port discovery (``serial.tools.list_ports``)."""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports

# USB vendor ids of Arduino boards and the usual USB-serial bridges on clones.
ARDUINO_VIDS = frozenset({0x2341, 0x2A03, 0x1A86, 0x0403, 0x10C4})


@dataclass(frozen=True)
class PortInfo:
    """One serial port as the OS lists it."""

    device: str
    description: str
    hwid: str
    vid: int | None
    pid: int | None
    serial_number: str | None

    @property
    def arduino_like(self) -> bool:
        """True for Arduino or common USB-serial bridge vendor ids, or ACM/USB tty names."""
        return (self.vid in ARDUINO_VIDS) or any(s in self.device for s in ("ttyACM", "ttyUSB"))


def list_serial_ports(*, arduino_only: bool = False) -> list[PortInfo]:
    """The serial ports present now, sorted by device name."""
    ports = [
        PortInfo(p.device, p.description, p.hwid, p.vid, p.pid, p.serial_number)
        for p in list_ports.comports()
    ]
    ports.sort(key=lambda p: p.device)
    return [p for p in ports if p.arduino_like] if arduino_only else ports
