"""The meter's UART receive side: host bytes arrive at the baud rate into a 64-byte ring.

Like an Arduino Uno (ATmega328P core, ``SERIAL_RX_BUFFER_SIZE`` 64): each byte lands in
the receive ring one byte time (10 bits) after the previous one; the meter's loop drains
the ring whenever it is not busy (signing). A byte that arrives while the ring is full
is lost, and the count is kept in :attr:`DeviceStats.rx_dropped`.
"""

from __future__ import annotations

from bench.emulator.device import MeterDevice

RX_RING = 64
# Bytes taken from the pty but not yet on the wire: the USB-serial bridge's buffer. Beyond
# it the farm stops reading, so the host's writes block as they do on a real port.
RX_WIRE_MAX = 256


class UartRx:
    """Host→meter bytes in flight and in the receive ring of one meter."""

    def __init__(self, bytes_per_s: float) -> None:
        self.byte_s = 1.0 / bytes_per_s
        self.wire = bytearray()
        self.ring = bytearray()
        self.t_next = 0.0  # when the first byte of ``wire`` has fully arrived

    @property
    def full(self) -> bool:
        """True when the farm should stop reading from the host for now."""
        return len(self.wire) >= RX_WIRE_MAX

    @property
    def idle(self) -> bool:
        """Nothing in flight and nothing waiting in the ring."""
        return not self.wire and not self.ring

    def put(self, data: bytes, now: float) -> None:
        """The host wrote ``data`` at link time ``now``."""
        if not self.wire:
            self.t_next = max(self.t_next, now + self.byte_s)
        self.wire += data

    def next_event(self, device: MeterDevice) -> float:
        """Link time of the next arrival or ring drain (inf when idle)."""
        times = [self.t_next] if self.wire else []
        if self.ring:
            times.append(device.busy_until)
        return min(times, default=float("inf"))

    def deliver(self, device: MeterDevice, now: float) -> bytes:
        """Run arrivals and the meter's loop up to ``now``; returns the meter's replies."""
        out = bytearray()
        ring, wire, stats = self.ring, self.wire, device.stats
        arrived = 0
        while True:
            t_arrival = self.t_next + arrived * self.byte_s
            has_arrival = arrived < len(wire) and t_arrival <= now
            if ring and device.busy_until <= min(now, t_arrival if has_arrival else now):
                t_loop = device.busy_until
                while ring and device.busy_until <= t_loop:
                    out += device.receive(bytes((ring.pop(0),)), t_loop)
                continue
            if not has_arrival:
                break
            byte = wire[arrived]
            arrived += 1
            if device.busy_until > t_arrival:
                if len(ring) < RX_RING:
                    ring.append(byte)
                else:
                    stats.rx_dropped += 1
            else:
                out += device.receive(bytes((byte,)), t_arrival)
        if arrived:
            stats.rx_bytes += arrived
            del wire[:arrived]
            self.t_next += arrived * self.byte_s
        return bytes(out)
