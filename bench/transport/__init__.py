"""Byte-level transport: 7-bit packing, Firmata framing, serial links, port discovery."""

from bench.transport.firmata import FirmataParser, Message
from bench.transport.link import FirmataLink, LinkStats, NativeLink, open_link, open_serial

__all__ = [
    "FirmataLink",
    "FirmataParser",
    "LinkStats",
    "Message",
    "NativeLink",
    "open_link",
    "open_serial",
]
