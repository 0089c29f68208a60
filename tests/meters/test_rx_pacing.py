"""The emulator's receive side: baud-rate arrival, the Uno's 64-byte ring, and fuzzing.

The UartRx cases run in link time given by the test (no real latency); the fuzz cases
push bytes through a real pty and bound what cannot depend on the machine's load (a
link can only be slower than its line rate, never faster).
"""

from __future__ import annotations

import itertools
import random
import threading
import time

import pytest
import serial

from bench.devices import FirmataMeter, wire
from bench.emulator import EmulatedMeter, MeterFarm
from bench.emulator.device import Eeprom, Faults, MeterDevice
from bench.emulator.physics import MeterPhysics
from bench.emulator.uart import RX_RING, UartRx
from bench.transport import firmata as fm
from bench.transport.packing import pack_bytes, pack_uint

BYTES_PER_S = 5760.0  # 57,600 baud, 10 bit times per byte
BYTE_S = 1 / BYTES_PER_S
H = bytes.fromhex


def device(sign_s: float = 0.0) -> MeterDevice:
    ee = Eeprom(meter_id="rx-1")
    return MeterDevice(ee, MeterPhysics(ee, Faults(), lambda: 0.0, power_w=100.0), sign_s=sign_s)


def test_bytes_arrive_one_byte_time_apart() -> None:
    dev, rx = device(), UartRx(BYTES_PER_S)
    burst = H("f0 71") + pack_bytes(b"x" * 287) + H("f7")  # 577 bytes of STRING_DATA
    rx.put(burst + H("f9"), 0.0)
    n = len(burst) + 1  # the version query completes with byte n
    assert rx.deliver(dev, (n - 0.5) * BYTE_S) == b""
    assert rx.deliver(dev, (n + 0.5) * BYTE_S) == H("f9 02 06")
    assert rx.idle and dev.stats.rx_dropped == 0


def test_bytes_beyond_the_ring_are_lost_while_the_meter_signs() -> None:
    dev, rx = device(sign_s=1.0), UartRx(BYTES_PER_S)
    queries = 100
    rx.put(H("f0 08 f7") + H("f9") * queries, 0.0)
    assert rx.deliver(dev, 0.5) == b""  # signing from byte 3 on: the ring fills, then drops
    assert len(rx.ring) == RX_RING and dev.stats.rx_dropped == queries - RX_RING
    t_done = 3 * BYTE_S + 1.0
    assert dev.poll(t_done - 0.01, 64) == b""  # no reply, no stream while it signs
    signed = dev.poll(t_done, 64)
    assert signed[:2] == H("f0 08") and len(signed) == 152
    assert rx.deliver(dev, t_done) == H("f9 02 06") * RX_RING  # the ring, drained after
    assert rx.idle


def test_a_streaming_meter_delays_its_readings_while_signing() -> None:
    dev, rx = device(sign_s=0.5), UartRx(BYTES_PER_S)
    dev.receive(H("f0 03 64 00 f7"), 0.0)  # stream every 100 ms
    rx.put(H("f0 08 f7"), 0.15)
    rx.deliver(dev, 0.2)
    assert dev.next_due() == pytest.approx(0.15 + 3 * BYTE_S + 0.5)
    assert dev.poll(0.4, 64) == b""
    out = dev.poll(dev.next_due(), 256)
    assert out[:2] == H("f0 08") and out[152:154] == H("f0 02")  # signed, then the late reading


def _valid_frames() -> list[bytes]:
    nonce = bytes(8)
    return [
        H("f9"),
        fm.sysex(fm.REPORT_FIRMWARE),
        fm.sysex(fm.CAPABILITY_QUERY),
        fm.sysex(fm.ANALOG_MAPPING_QUERY),
        fm.sysex(fm.SAMPLING_INTERVAL, pack_uint(19, 14)),
        H("c0 01"),
        H("c1 00"),
        H("d0 01"),
        H("f4 02 0b"),
        H("f5 03 01"),
        H("ff"),
        fm.sysex(fm.STRING_DATA, pack_bytes(b"hello meter")),
        *(fm.sysex(c) for c in (1, 2, 4, 5, 7, 8)),
        fm.sysex(wire.Cmd.STREAM, pack_uint(20, 14)),
        fm.sysex(wire.Cmd.AUTH, wire.encode_auth(bytes(32), nonce, 1, b"\x01")),
        fm.sysex(wire.Cmd.AUTH, wire.encode_auth(bytes(32), nonce, 5, pack_bytes(bytes(32)))),
    ]


def _mutate(frame: bytes, rng: random.Random) -> bytes:
    b = bytearray(frame)
    op = rng.randrange(5)
    if op == 0 and b:
        b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
    elif op == 1 and len(b) > 1:
        del b[rng.randrange(1, len(b)) :]
    elif op == 2:
        b.insert(rng.randrange(len(b) + 1), rng.randrange(256))
    elif op == 3 and b:
        b = b * rng.randrange(2, 6)
    return bytes(b)


def fuzz_stream(total: int, seed: int) -> bytes:
    rng = random.Random(seed)
    frames = _valid_frames()
    out = bytearray()
    next_sign = 0
    while len(out) < total:
        if len(out) >= next_sign:  # an intact request keeps the meter busy signing
            out += fm.sysex(wire.Cmd.SIGNED_READING)
            next_sign += 3000
        if rng.random() < 0.5:
            out += rng.randbytes(rng.randrange(1, 600))
        else:
            out += _mutate(rng.choice(frames), rng)
    return bytes(out)


def fuzz_emulator(total: int, seed: int = 7) -> None:
    """Send ``total`` fuzz bytes; then the meter must answer and stream, unrebooted."""
    with MeterFarm() as farm:
        em = farm.add(EmulatedMeter("fuzz-1", power_w=800.0, sign_s=0.2))
        data = fuzz_stream(total, seed)
        port = serial.serial_for_url(em.port, baudrate=57600, timeout=0.05)
        stop = threading.Event()
        drained = [0]

        def drain() -> None:
            while not stop.is_set():
                drained[0] += len(port.read(4096))

        reader = threading.Thread(target=drain, daemon=True)
        reader.start()
        t0 = time.monotonic()
        for i in range(0, len(data), 512):
            port.write(data[i : i + 512])
        deadline = t0 + 3 * len(data) / BYTES_PER_S + 10
        while em.device.stats.rx_bytes < len(data) and time.monotonic() < deadline:
            time.sleep(0.01)
        elapsed = time.monotonic() - t0
        stop.set()
        reader.join()
        port.close()
        assert em.device.stats.rx_bytes == len(data)
        # The meter's UART cannot take bytes faster than the line rate (load only slows it).
        assert elapsed >= len(data) / BYTES_PER_S
        assert em.device.stats.rx_dropped > 0  # signing requests made it busy; bytes were lost
        with FirmataMeter.open(em.port, timeout_s=2.0) as meter:
            ident = meter.identity(refresh=True)
            assert ident.boot_count == 1 == em.eeprom.boot_count  # no reset
            meter.start_stream(0.02)
            got: list = []
            deadline = time.monotonic() + 10.0
            while len(got) < 10 and time.monotonic() < deadline:
                got += meter.next_readings(0.2)
            meter.stop_stream()
        assert len(got) >= 10
        assert all(b.seq == a.seq + 1 for a, b in itertools.pairwise(got))
        assert farm.loop_error is None


def test_fuzzed_emulator_keeps_answering_short() -> None:
    fuzz_emulator(12_000)


@pytest.mark.slow
def test_fuzzed_emulator_keeps_answering_200kb() -> None:
    fuzz_emulator(210_000, seed=11)
