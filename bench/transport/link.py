"""A Firmata link: bytes out, parsed messages in, over any pyserial URL.

:class:`FirmataLink` is the interface the drivers use; :class:`NativeLink` implements
it with this package's parser in the caller's thread (one reader thread per port: the
poller's). :mod:`bench.transport.pyfirmata_link` implements it over pyfirmata2.
"""

from __future__ import annotations

import contextlib
import errno
import grp
import math
import os
import select
import termios
import time
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import serial

from bench.errors import ConfigError, TransportError
from bench.transport.firmata import FirmataParser, Message

DEFAULT_BAUD = 57600


@dataclass(frozen=True)
class LinkStats:
    """Counters of one link since it was opened."""

    bytes_in: int
    messages: int
    malformed: int
    skipped_bytes: int


class FirmataLink(Protocol):
    """What a meter driver needs from a Firmata connection."""

    url: str

    def send(self, data: bytes) -> None:
        """Write raw bytes; raise :class:`TransportError` if the port is gone."""

    def receive(self, timeout_s: float) -> list[Message]:
        """Messages that arrived within ``timeout_s`` (empty on timeout)."""

    def stats(self) -> LinkStats:
        """Byte and message counters."""

    def close(self) -> None:
        """Close the port; idempotent."""


def open_serial(
    url: str, *, baud: int = DEFAULT_BAUD, timeout_s: float = 0.05
) -> serial.SerialBase:
    """Open ``url``: a local device path exclusively and without HUPCL
    (:func:`open_local`), any other pyserial URL (socket://, rfc2217://) with
    :func:`serial.serial_for_url`."""
    if "://" not in url:
        return open_local(url, baud=baud, timeout_s=timeout_s)[0]
    try:
        return serial.serial_for_url(url, baudrate=baud, timeout=timeout_s, write_timeout=2.0)
    except (serial.SerialException, OSError, ValueError) as exc:
        raise TransportError(
            f"cannot open meter port {url!r}: {exc}. Check the URL and that the meter's "
            "server runs (`python -m serial.tools.list_ports -v` lists local serial ports)."
        ) from exc


def open_local(
    path: str, *, baud: int = DEFAULT_BAUD, timeout_s: float = 0.05
) -> tuple[serial.Serial, bool]:
    """Open a local serial device for this process alone (a second opener gets a clear
    error) and keep DTR and RTS as they are across close: HUPCL is cleared, so closing
    does not drop DTR and the next open does not reset an Uno (its reset is wired to a
    DTR edge). pyserial asserts DTR and RTS at open, which they already are.

    Returns the port and whether this open reset the board: True when HUPCL was still
    set (the first open since the board was plugged in, or after a program that sets it),
    so the previous close dropped DTR and this open raised it again.
    """
    port = serial.Serial(None, baudrate=baud, timeout=timeout_s, write_timeout=2.0, exclusive=True)
    port.port = path
    try:
        port.open()
    except (serial.SerialException, OSError, ValueError) as exc:
        raise TransportError(_open_failure(path, exc)) from exc
    reset = True
    fd = getattr(port, "fd", None)
    if isinstance(fd, int):
        try:
            attrs = termios.tcgetattr(fd)
            reset = bool(attrs[2] & termios.HUPCL)
            if reset:
                attrs[2] &= ~termios.HUPCL
                termios.tcsetattr(fd, termios.TCSANOW, attrs)
        except termios.error:  # not a tty (a plain file, a FIFO): nothing to keep
            pass
    return port, reset


def _open_failure(path: str, exc: BaseException) -> str:
    """What went wrong opening a local port, and what to do."""
    errno_ = getattr(exc, "errno", None)
    text = str(exc)
    if errno_ == errno.EACCES or "Permission denied" in text or "Errno 13" in text:
        try:
            group = grp.getgrgid(os.stat(path).st_gid).gr_name
        except (OSError, KeyError):
            group = "dialout"
        return (
            f"cannot open meter port {path!r}: permission denied. Your user is not in the "
            f"{group!r} group that owns the port: run `sudo usermod -aG {group} $USER`, then "
            "log out and in again (or run `newgrp " + group + "` in this shell)."
        )
    if "exclusively lock" in text or errno_ in (errno.EAGAIN, errno.EWOULDBLOCK):
        return (
            f"cannot open meter port {path!r}: another program holds it (a second bench, "
            "the Arduino IDE's serial monitor, screen, ModemManager). Close it and retry "
            f"(`fuser -v {path}` names it)."
        )
    return (
        f"cannot open meter port {path!r}: {exc}. Check the path, that the board is plugged "
        "in (`python -m serial.tools.list_ports -v` lists serial ports)."
    )


def open_settled(
    url: str, *, baud: int, reset_wait_s: float, timeout_s: float = 0.05
) -> serial.SerialBase:
    """Open ``url``, wait ``reset_wait_s`` for an Arduino's auto-reset (a local port: only
    when this open did reset the board, see :func:`open_local`), drop stale input."""
    if "://" in url:
        port: serial.SerialBase = open_serial(url, baud=baud, timeout_s=timeout_s)
        reset = True
    else:
        port, reset = open_local(url, baud=baud, timeout_s=timeout_s)
    if reset and reset_wait_s > 0:
        time.sleep(reset_wait_s)
    try:
        port.reset_input_buffer()
    except (serial.SerialException, OSError) as exc:
        port.close()
        raise TransportError(f"meter port {url!r} failed right after opening: {exc}") from exc
    return port


class NativeLink:
    """A :class:`FirmataLink` over one pyserial port, parsed in the caller's thread.

    Local ports (paths, ptys) are read and written through their file descriptor with
    ``poll``: pyserial's POSIX backend uses ``select``, which fails for descriptors
    ≥ 1024 — reached with a few hundred meters in one process. URL ports
    (``socket://``, ``rfc2217://``) go through pyserial's API.
    """

    def __init__(self, port: serial.SerialBase, url: str) -> None:
        self.url = url
        self._port = port
        self._parser = FirmataParser()
        self._bytes_in = 0
        fd = getattr(port, "fd", None)
        self._fd: int | None = fd if isinstance(fd, int) else None
        self._poll = select.poll()
        if self._fd is not None:
            self._poll.register(self._fd, select.POLLIN)

    @classmethod
    def open(cls, url: str, *, baud: int = DEFAULT_BAUD, reset_wait_s: float = 0.0) -> NativeLink:
        """Open ``url``, wait ``reset_wait_s`` for an Arduino's auto-reset, drop stale input."""
        return cls(open_settled(url, baud=baud, reset_wait_s=reset_wait_s), url)

    def send(self, data: bytes) -> None:
        """Write raw bytes."""
        try:
            if self._fd is None:
                self._port.write(data)
            else:
                self._write_fd(self._fd, data)
        except (serial.SerialException, OSError) as exc:
            raise TransportError(
                f"writing to meter port {self.url!r} failed: {exc}; the cable may have been "
                "pulled — the poller reconnects by itself, a direct caller should reopen"
            ) from exc

    @staticmethod
    def _write_fd(fd: int, data: bytes) -> None:
        view = memoryview(data)
        deadline = time.monotonic() + 2.0
        while view:
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError("write blocked for 2 s") from None
                time.sleep(0.001)

    def _read_some(self, timeout_s: float) -> bytes:
        if self._fd is None:
            port = self._port
            waiting = port.in_waiting
            data = port.read(waiting or 1)
            if data and not waiting and port.in_waiting:
                data += port.read(port.in_waiting)
            return bytes(data)
        # whole ms, rounded up: rounded down, the last ms before a deadline spun
        if not self._poll.poll(max(0, math.ceil(timeout_s * 1000))):
            return b""
        try:
            data = os.read(self._fd, 4096)
        except BlockingIOError:
            return b""
        if not data:
            raise serial.SerialException("device disconnected (read returned no data)")
        return data

    def receive(self, timeout_s: float) -> list[Message]:
        """Read what arrives within ``timeout_s`` and return the complete messages."""
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                data = self._read_some(min(0.05, max(0.0, deadline - time.monotonic())))
            except (serial.SerialException, OSError, TypeError, AttributeError) as exc:
                raise TransportError(
                    f"reading meter port {self.url!r} failed: {exc}; the cable may have been "
                    "pulled — the poller reconnects by itself, a direct caller should reopen"
                ) from exc
            if data:
                self._bytes_in += len(data)
                messages = self._parser.feed(data)
                if messages:
                    return messages
            if time.monotonic() >= deadline:
                return []

    def stats(self) -> LinkStats:
        """Byte and message counters."""
        p = self._parser
        return LinkStats(self._bytes_in, p.messages, p.malformed, p.skipped_bytes)

    def close(self) -> None:
        """Close the port; idempotent."""
        with contextlib.suppress(serial.SerialException, OSError):
            self._port.close()


def open_link(
    url: str, *, baud: int = DEFAULT_BAUD, reset_wait_s: float = 0.0, backend: str = "native"
) -> FirmataLink:
    """Open a Firmata link with the chosen backend: ``native`` or ``pyfirmata2``."""
    if backend == "native":
        return NativeLink.open(url, baud=baud, reset_wait_s=reset_wait_s)
    if backend == "pyfirmata2":
        from bench.transport.pyfirmata_link import Pyfirmata2Link

        return Pyfirmata2Link.open(url, baud=baud, reset_wait_s=reset_wait_s)
    raise ConfigError(f"unknown Firmata backend {backend!r}; use 'native' or 'pyfirmata2'")


class _Handshaking(Protocol):
    def handshake(self) -> Any: ...


D = TypeVar("D", bound=_Handshaking)


def handshake_or_close(link: FirmataLink, driver: D) -> D:
    """Run ``driver.handshake()`` on a fresh ``link``; close the link if it fails."""
    try:
        driver.handshake()
    except BaseException:
        link.close()
        raise
    return driver
