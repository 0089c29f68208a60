"""Firmata 2.x framing: message types, encoder and a parser that never raises.

Both sides use it: the host drivers parse what meters send, the emulator parses what
the host sends. Framing rules are those of firmware/PROTOCOL.md §2.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

log = logging.getLogger(__name__)

ANALOG_MESSAGE = 0xE0
DIGITAL_MESSAGE = 0x90
REPORT_ANALOG = 0xC0
REPORT_DIGITAL = 0xD0
SET_PIN_MODE = 0xF4
SET_DIGITAL_PIN_VALUE = 0xF5
REPORT_VERSION = 0xF9
SYSTEM_RESET = 0xFF
START_SYSEX = 0xF0
END_SYSEX = 0xF7

# Standard sysex commands.
ANALOG_MAPPING_QUERY = 0x69
ANALOG_MAPPING_RESPONSE = 0x6A
CAPABILITY_QUERY = 0x6B
CAPABILITY_RESPONSE = 0x6C
PIN_STATE_QUERY = 0x6D
PIN_STATE_RESPONSE = 0x6E
STRING_DATA = 0x71
REPORT_FIRMWARE = 0x79
SAMPLING_INTERVAL = 0x7A


@dataclass(frozen=True, slots=True)
class Analog:
    """ANALOG_MESSAGE: a 14-bit value on an analog channel."""

    channel: int
    value: int


@dataclass(frozen=True, slots=True)
class Digital:
    """DIGITAL_MESSAGE: the 8 pins of one port as a bit mask."""

    port: int
    mask: int


@dataclass(frozen=True, slots=True)
class ReportAnalog:
    """REPORT_ANALOG: switch reporting of one analog channel on or off."""

    channel: int
    enable: bool


@dataclass(frozen=True, slots=True)
class ReportDigital:
    """REPORT_DIGITAL: switch reporting of one digital port on or off."""

    port: int
    enable: bool


@dataclass(frozen=True, slots=True)
class SetPinMode:
    """SET_PIN_MODE."""

    pin: int
    mode: int


@dataclass(frozen=True, slots=True)
class SetDigitalPin:
    """SET_DIGITAL_PIN_VALUE."""

    pin: int
    value: int


@dataclass(frozen=True, slots=True)
class Version:
    """REPORT_VERSION: the Firmata protocol version (query when sent alone)."""

    major: int
    minor: int


@dataclass(frozen=True, slots=True)
class VersionQuery:
    """A lone REPORT_VERSION byte: the host asks for the protocol version."""


@dataclass(frozen=True, slots=True)
class SystemReset:
    """SYSTEM_RESET."""


@dataclass(frozen=True, slots=True)
class Sysex:
    """A complete sysex: command byte and its 7-bit payload."""

    command: int
    payload: bytes


Message = (
    Analog
    | Digital
    | ReportAnalog
    | ReportDigital
    | SetPinMode
    | SetDigitalPin
    | Version
    | VersionQuery
    | SystemReset
    | Sysex
)

_STATUS = re.compile(rb"[\x80-\xff]")


def sysex(command: int, payload: bytes = b"") -> bytes:
    """Encode a sysex frame."""
    return bytes((START_SYSEX, command)) + payload + bytes((END_SYSEX,))


def analog(channel: int, value: int) -> bytes:
    """Encode an ANALOG_MESSAGE."""
    return bytes((ANALOG_MESSAGE | (channel & 0x0F), value & 0x7F, (value >> 7) & 0x7F))


def digital(port: int, mask: int) -> bytes:
    """Encode a DIGITAL_MESSAGE."""
    return bytes((DIGITAL_MESSAGE | (port & 0x0F), mask & 0x7F, (mask >> 7) & 0x7F))


class FirmataParser:
    """Incremental Firmata parser: feed it any bytes, get whole messages back.

    It never raises. Incomplete messages wait for more bytes; a status byte where a data
    byte belongs drops the broken message; stray data bytes are skipped. Both are counted
    in :attr:`malformed` and :attr:`skipped_bytes`. ``lone_version_is_query`` makes a
    lone ``F9`` a :class:`VersionQuery` (device side) instead of waiting for two bytes.
    """

    def __init__(self, *, max_sysex: int = 1024, lone_version_is_query: bool = False) -> None:
        self._buf = bytearray()
        self._max_sysex = max_sysex
        self._device_side = lone_version_is_query
        self.malformed = 0
        self.skipped_bytes = 0
        self.messages = 0

    def feed(self, data: bytes | bytearray) -> list[Message]:
        """Append ``data`` and return every message it completes, in order."""
        buf = self._buf
        buf += data
        out: list[Message] = []
        pos = 0
        end = len(buf)
        while pos < end:
            status = buf[pos]
            if status < 0x80:
                match = _STATUS.search(buf, pos)
                nxt = match.start() if match else end
                self.skipped_bytes += nxt - pos
                pos = nxt
                continue
            if status == START_SYSEX:
                match = _STATUS.search(buf, pos + 1)
                if match is None:
                    if end - pos > self._max_sysex + 2:
                        self._drop(f"sysex longer than {self._max_sysex} bytes")
                        self.skipped_bytes += end - pos - 1
                        pos = end
                        continue
                    break
                stop = match.start()
                if buf[stop] != END_SYSEX or stop == pos + 1:
                    self._drop("sysex interrupted by a status byte")
                    pos = stop
                    continue
                if stop - pos - 2 > self._max_sysex:
                    self._drop(f"sysex longer than {self._max_sysex} bytes")
                else:
                    out.append(Sysex(buf[pos + 1], bytes(buf[pos + 2 : stop])))
                pos = stop + 1
                continue
            need = self._data_bytes(status)
            if need < 0:
                self._drop(f"unknown status byte 0x{status:02X}")
                pos += 1
                continue
            if status == REPORT_VERSION and self._device_side:
                need = 0
            if pos + need >= end:
                tail = buf[pos + 1 : end]
                if any(b >= 0x80 for b in tail):
                    self._drop("message interrupted by a status byte")
                    pos += 1
                    continue
                break
            body = buf[pos + 1 : pos + 1 + need]
            if any(b >= 0x80 for b in body):
                self._drop("message interrupted by a status byte")
                pos += 1
                continue
            out.append(self._decode(status, body))
            pos += 1 + need
        del buf[:pos]
        self.messages += len(out)
        return out

    def reset(self) -> None:
        """Forget any partial message (after a reconnect)."""
        self._buf.clear()

    def _drop(self, why: str) -> None:
        self.malformed += 1
        log.debug("dropped malformed Firmata message: %s", why)

    @staticmethod
    def _data_bytes(status: int) -> int:
        high = status & 0xF0
        if high in (ANALOG_MESSAGE, DIGITAL_MESSAGE):
            return 2
        if high in (REPORT_ANALOG, REPORT_DIGITAL):
            return 1
        if status in (SET_PIN_MODE, SET_DIGITAL_PIN_VALUE, REPORT_VERSION):
            return 2
        if status == SYSTEM_RESET:
            return 0
        return -1

    @staticmethod
    def _decode(status: int, body: bytearray) -> Message:
        high = status & 0xF0
        low = status & 0x0F
        if high == ANALOG_MESSAGE:
            return Analog(low, body[0] | (body[1] << 7))
        if high == DIGITAL_MESSAGE:
            return Digital(low, body[0] | (body[1] << 7))
        if high == REPORT_ANALOG:
            return ReportAnalog(low, bool(body[0]))
        if high == REPORT_DIGITAL:
            return ReportDigital(low, bool(body[0]))
        if status == SET_PIN_MODE:
            return SetPinMode(body[0], body[1])
        if status == SET_DIGITAL_PIN_VALUE:
            return SetDigitalPin(body[0], body[1])
        if status == REPORT_VERSION:
            return Version(body[0], body[1]) if body else VersionQuery()
        return SystemReset()
