"""Serial port discovery (``serial.tools.list_ports``)."""

from __future__ import annotations

from dataclasses import dataclass

from serial.tools import list_ports

# USB vendor ids of Arduino boards (Arduino LLC, Arduino SRL): probed by port = "auto".
ARDUINO_VIDS = frozenset({0x2341, 0x2A03})
# The USB-serial bridges of clone boards (CH340, FTDI, CP210x): listed, never probed
# unless named, since any serial device may sit behind one and opening may reset it.
BRIDGE_VIDS = frozenset({0x1A86, 0x0403, 0x10C4})


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
        """True for an Arduino board's own USB vendor id (the ports ``port = "auto"``
        probes); a clone's USB-serial bridge is :attr:`usb_bridge`."""
        return self.vid in ARDUINO_VIDS

    @property
    def usb_bridge(self) -> bool:
        """True for a CH340, FTDI or CP210x bridge: maybe a clone board, probed only when
        named (``--port``, or the meter's ``port`` in the config)."""
        return self.vid in BRIDGE_VIDS


def list_serial_ports(*, arduino_only: bool = False) -> list[PortInfo]:
    """The serial ports present now, sorted by device name, from the OS's listing alone
    (sysfs on Linux): no port is opened."""
    ports = [
        PortInfo(p.device, p.description, p.hwid, p.vid, p.pid, p.serial_number)
        for p in list_ports.comports()
    ]
    ports.sort(key=lambda p: p.device)
    return [p for p in ports if p.arduino_like] if arduino_only else ports
