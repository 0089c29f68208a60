"""An emulated RS-485 bus (Modbus-RTU on a pty) or Modbus-TCP server on loopback.

Several :class:`ModbusMeterDevice` answer on one bus, each at its own address. One I/O
thread frames requests: RTU (address, PDU, CRC-16 low byte first; a frame that fails its
CRC is skipped a byte at a time, as a receiver resynchronising on a line) or TCP (the
MBAP header, unit id as the address). Faults of a bus: ``drop_rate`` (no reply),
``garbage_rate`` (a corrupted reply: the host sees a CRC error), :meth:`stall`.

This side is written from the Modbus specification (Modbus over serial line V1.02,
Modbus messaging on TCP/IP V1.0b), independently of the pymodbus client the bench uses.
"""

from __future__ import annotations

import contextlib
import os
import random
import selectors
import socket
import struct
import threading
import time
import tty
from collections.abc import Iterable

from bench.emulator.modbus_device import ModbusMeterDevice
from bench.errors import ConfigError

BROADCAST = 0


def crc16(data: bytes) -> int:
    """Modbus CRC-16 (polynomial 0xA001 reflected, initial 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def rtu_frame(address: int, pdu: bytes) -> bytes:
    """Address + PDU + CRC (low byte first)."""
    body = bytes((address,)) + pdu
    return body + struct.pack("<H", crc16(body))


def rtu_request_length(buf: bytes) -> int | None:
    """Length of the request frame at the start of ``buf`` (None: need more bytes)."""
    if len(buf) < 2:
        return None
    function = buf[1]
    if function in (0x01, 0x02, 0x03, 0x04, 0x05, 0x06):
        return 8
    if function in (0x0F, 0x10):
        return 9 + buf[6] if len(buf) >= 7 else None
    return 4  # the PZEM's 0x42 and anything unknown: address, function, CRC


class ModbusBus:
    """One bus of emulated meters, served on a pty (RTU) or TCP; a context manager."""

    def __init__(
        self,
        devices: Iterable[ModbusMeterDevice] = (),
        *,
        tcp: bool = False,
        seed: int | None = None,
    ) -> None:
        self.tcp = tcp
        self.devices: dict[str, ModbusMeterDevice] = {}
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self._sel = selectors.DefaultSelector()
        self._stop = threading.Event()
        self._stalled_until = 0.0
        self._thread: threading.Thread | None = None
        self._master = self._slave = -1
        self._listener: socket.socket | None = None
        self.url = ""
        self.frames_bad = 0
        for d in devices:
            self.add(d)

    def add(self, device: ModbusMeterDevice) -> ModbusMeterDevice:
        """Put a meter on the bus (addresses are unique)."""
        with self._lock:
            taken = {d.address for d in self.devices.values()}
            if device.address in taken or device.meter_id in self.devices:
                raise ConfigError(
                    f"Modbus meter {device.meter_id!r}: address {device.address} or its id is "
                    "already on this bus; give each meter on a bus its own address"
                )
            self.devices[device.meter_id] = device
        return device

    def stall(self, seconds: float) -> None:
        """Answer nothing for ``seconds`` (requests meanwhile are lost)."""
        self._stalled_until = time.monotonic() + seconds

    # -- lifecycle -------------------------------------------------------------------
    def start(self) -> ModbusBus:
        """Open the pty or the TCP port and start serving."""
        if self.tcp:
            lst = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            lst.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            lst.bind(("127.0.0.1", 0))
            lst.listen(4)
            lst.setblocking(False)
            self._listener = lst
            self._sel.register(lst, selectors.EVENT_READ, "accept")
            self.url = f"tcp://127.0.0.1:{lst.getsockname()[1]}"
        else:
            self._master, self._slave = os.openpty()
            tty.setraw(self._slave)
            os.set_blocking(self._master, False)
            self._sel.register(self._master, selectors.EVENT_READ, "rtu")
            self.url = os.ttyname(self._slave)
        self._thread = threading.Thread(target=self._run, name="modbus-bus", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close everything; idempotent."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)
            self._thread = None
        for key in list(self._sel.get_map().values()):
            with contextlib.suppress(OSError):
                if isinstance(key.fileobj, socket.socket):
                    key.fileobj.close()
        self._sel.close()
        for fd in (self._master, self._slave):
            if fd >= 0:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> ModbusBus:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- serving ---------------------------------------------------------------------
    def _device(self, address: int) -> ModbusMeterDevice | None:
        with self._lock:
            return next((d for d in self.devices.values() if d.address == address), None)

    def _answer(self, address: int, pdu: bytes) -> bytes | None:
        """The reply PDU, or None (no such meter, a broadcast, a stall or a dropped reply)."""
        device = self._device(address)
        if device is None or time.monotonic() < self._stalled_until:
            return None
        reply = device.handle(pdu)
        f = device.faults
        if f.drop_rate and self._rng.random() < f.drop_rate:
            return None
        return reply

    def _corrupt(self, address: int, frame: bytes) -> bytes:
        device = self._device(address)
        rate = device.faults.garbage_rate if device is not None else 0.0
        if rate and self._rng.random() < rate:
            i = self._rng.randrange(len(frame))
            return frame[:i] + bytes((frame[i] ^ 0x5A,)) + frame[i + 1 :]
        return frame

    def _run(self) -> None:
        buffers: dict[object, bytearray] = {}
        while not self._stop.is_set():
            for key, _ in self._sel.select(0.05):
                if key.data == "accept":
                    assert self._listener is not None
                    with contextlib.suppress(BlockingIOError):
                        conn, _ = self._listener.accept()
                        conn.setblocking(True)
                        conn.settimeout(1.0)
                        self._sel.register(conn, selectors.EVENT_READ, "tcp")
                    continue
                buf = buffers.setdefault(key.fileobj, bytearray())
                try:
                    if key.data == "rtu":
                        chunk = os.read(self._master, 4096)
                    else:
                        assert isinstance(key.fileobj, socket.socket)
                        chunk = key.fileobj.recv(4096)
                except BlockingIOError:
                    continue
                except OSError:
                    chunk = b""
                if not chunk:
                    if key.data == "tcp":
                        self._sel.unregister(key.fileobj)
                        assert isinstance(key.fileobj, socket.socket)
                        key.fileobj.close()
                        buffers.pop(key.fileobj, None)
                    continue
                buf += chunk
                if key.data == "rtu":
                    self._serve_rtu(buf)
                else:
                    assert isinstance(key.fileobj, socket.socket)
                    self._serve_tcp(buf, key.fileobj)

    def _serve_rtu(self, buf: bytearray) -> None:
        while True:
            n = rtu_request_length(bytes(buf))
            if n is None or len(buf) < n:
                return
            frame = bytes(buf[:n])
            if crc16(frame[:-2]) != struct.unpack("<H", frame[-2:])[0]:
                self.frames_bad += 1
                del buf[:1]  # resynchronise one byte on
                continue
            del buf[:n]
            address, pdu = frame[0], frame[1:-2]
            if address == BROADCAST:
                continue
            reply = self._answer(address, pdu)
            if reply is not None:
                os.write(self._master, self._corrupt(address, rtu_frame(address, reply)))

    def _serve_tcp(self, buf: bytearray, conn: socket.socket) -> None:
        while len(buf) >= 7:
            tid, pid, length, unit = struct.unpack(">HHHB", bytes(buf[:7]))
            if len(buf) < 6 + length:
                return
            pdu = bytes(buf[7 : 6 + length])
            del buf[: 6 + length]
            if pid != 0 or not pdu:
                continue
            reply = self._answer(unit, pdu)
            if reply is not None:
                header = struct.pack(">HHHB", tid, 0, len(reply) + 1, unit)
                with contextlib.suppress(OSError):
                    conn.sendall(header + reply)
