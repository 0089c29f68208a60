"""A :class:`FirmataLink` over pyfirmata2 2.5.1, with its quirks worked around.

- every board gets its own ``_command_handlers`` dict (pyfirmata2 shares one class-level
  dict between all boards, so the last board would get every message);
- the port is opened with :func:`serial.serial_for_url` (``socket://`` works) and handed
  to the board, skipping pyfirmata2's fixed 5 s wait: ``reset_wait_s`` is ours;
- the Firmata version and firmware name are queried by the driver (pyfirmata2 never asks);
- pyfirmata2's reader dies on a read timeout (``ord(b'')``), so the port is wrapped to
  block until data arrives or the link closes, which its reader treats as a clean stop.

pyfirmata2's parser reads one byte per ``read()`` call and glues a truncated sysex to
the next frame; malformed payloads are dropped here and counted.
"""

from __future__ import annotations

import queue
import threading
from typing import Any

import pyfirmata2
import serial
from pyfirmata2.util import Iterator

from bench.errors import TransportError
from bench.transport import firmata as fm
from bench.transport.link import DEFAULT_BAUD, LinkStats, open_settled

_SYSEX_COMMANDS = (
    *range(0x01, 0x10),
    fm.REPORT_FIRMWARE,
    fm.STRING_DATA,
    fm.CAPABILITY_RESPONSE,
    fm.ANALOG_MAPPING_RESPONSE,
    fm.PIN_STATE_RESPONSE,
)


class _BlockingPort:
    """The serial port as pyfirmata2 wants it: ``read`` blocks, closing stops its thread."""

    def __init__(self, port: serial.SerialBase) -> None:
        self.port = port
        self.closed = False
        self.bytes_in = 0

    def read(self, size: int = 1) -> bytes:
        while not self.closed:
            data = self.port.read(size)
            if data:
                self.bytes_in += len(data)
                return bytes(data)
        raise serial.SerialException("link closed")

    def inWaiting(self) -> int:
        return 1 if not self.closed else 0

    def write(self, data: bytes) -> int | None:
        return self.port.write(data)

    def close(self) -> None:
        self.closed = True


class _Board(pyfirmata2.Board):
    """pyfirmata2.Board with per-instance handlers and a port we opened ourselves."""

    def __init__(self, port: _BlockingPort, name: str, sink: queue.Queue[fm.Message]) -> None:
        self._command_handlers: dict[int, Any] = {}
        self._stored_data: list[int] = []
        self.sp = port
        self.name = name
        self.samplerThread = Iterator(self)
        self._sink = sink
        self.malformed = 0
        self.setup_layout(pyfirmata2.BOARDS["arduino"])
        self.add_cmd_handler(pyfirmata2.ANALOG_MESSAGE, self._on_analog)
        self.add_cmd_handler(pyfirmata2.DIGITAL_MESSAGE, self._on_digital)
        self.add_cmd_handler(pyfirmata2.REPORT_VERSION, self._on_version)
        for cmd in _SYSEX_COMMANDS:
            self.add_cmd_handler(cmd, self._sysex_handler(cmd))

    def _on_analog(self, pin: int, lsb: int, msb: int) -> None:
        self._sink.put(fm.Analog(pin, lsb | msb << 7))

    def _on_digital(self, port: int, lsb: int, msb: int) -> None:
        self._sink.put(fm.Digital(port, lsb | msb << 7))

    def _on_version(self, major: int, minor: int) -> None:
        self._sink.put(fm.Version(major, minor))

    def _sysex_handler(self, cmd: int) -> Any:
        def handle(*data: int) -> None:
            if any(b > 0x7F for b in data):
                self.malformed += 1  # a truncated frame glued to the next one
                return
            self._sink.put(fm.Sysex(cmd, bytes(data)))

        return handle

    def __del__(self) -> None:  # pyfirmata2's __del__ closes ports it did not open
        pass


class Pyfirmata2Link:
    """A :class:`FirmataLink` whose parsing runs on pyfirmata2's reader thread."""

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        self.url = url
        self._port = port
        self._proxy = _BlockingPort(port)
        self._queue: queue.Queue[fm.Message] = queue.Queue()
        self._board = _Board(self._proxy, url, self._queue)
        self._messages = 0
        self._board.samplerThread.start()

    @classmethod
    def open(
        cls, url: str, *, baud: int = DEFAULT_BAUD, reset_wait_s: float = 0.0
    ) -> Pyfirmata2Link:
        """Open ``url`` and start pyfirmata2's reader after ``reset_wait_s``."""
        return cls(open_settled(url, baud=baud, reset_wait_s=reset_wait_s, timeout_s=0.1), url)

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        try:
            self._port.write(data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(f"writing to {self.url!r} failed: {exc}; reconnect") from exc

    def receive(self, timeout_s: float) -> list[fm.Message]:
        """Messages pyfirmata2 delivered within ``timeout_s``."""
        out: list[fm.Message] = []
        try:
            out.append(self._queue.get(timeout=timeout_s))
            while True:
                out.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if not out and not self._board.samplerThread.is_alive():
            raise TransportError(
                f"pyfirmata2's reader for {self.url!r} stopped (link lost); reconnect"
            )
        self._messages += len(out)
        return out

    def stats(self) -> LinkStats:
        """Counters (skipped bytes are not visible through pyfirmata2: reported as 0)."""
        return LinkStats(self._proxy.bytes_in, self._messages, self._board.malformed, 0)

    def close(self) -> None:
        """Stop pyfirmata2's reader and close the port; idempotent."""
        self._proxy.close()
        thread: threading.Thread = self._board.samplerThread
        if thread.is_alive():
            thread.join(timeout=1.0)
        self._port.close()
