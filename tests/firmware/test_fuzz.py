"""Host traffic cannot wedge or reboot the firmware in simavr: random bytes and mutated valid
frames, delivered at the UART's frame rate by the runner's pty bridge (the core's 64-byte
receive ring overflows as on a real Uno), then a version query and a reading stream."""

from __future__ import annotations

import random
import time

import pytest

from bench.devices.firmata_meter import FirmataMeter
from bench.firmware import SimMeter, Waveform
from bench.transport.firmata import Version
from tests.firmware.sim_meters import SimFactory

pytestmark = pytest.mark.firmware

VALID_FRAMES = (
    bytes((0xF9,)),  # version query
    bytes((0xF0, 0x79, 0xF7)),  # firmware query
    bytes((0xF0, 0x01, 0xF7)),  # identity
    bytes((0xF0, 0x02, 0xF7)),  # reading
    bytes((0xF0, 0x03, 0x64, 0x00, 0xF7)),  # stream every 100 ms
    bytes((0xF0, 0x05, 0xF7)),  # challenge
    bytes((0xF0, 0x06, 0x01, 0x01, *([0x11] * 32), 0xF7)),  # AUTH with a bad tag
    bytes((0xF0, 0x71, *b"hello world" * 4, 0xF7)),  # STRING_DATA
    bytes((0xF4, 0x0D, 0x01, 0x90, 0x7F, 0x01)),  # pin mode, digital write
    bytes((0xC3, 0x01, 0xD1, 0x01, 0xFF)),  # reports on, system reset
)


def traffic(n_bytes: int, seed: int) -> bytes:
    """Random bytes interleaved with valid frames, each frame maybe cut, doubled or bit-flipped."""
    rng = random.Random(seed)
    out = bytearray()
    while len(out) < n_bytes:
        if rng.random() < 0.5:
            out += rng.randbytes(rng.randint(1, 600))
            continue
        frame = bytearray(rng.choice(VALID_FRAMES))
        mutation = rng.randrange(4)
        if mutation == 1:
            frame = frame[: rng.randint(0, len(frame))]
        elif mutation == 2 and frame:
            frame[rng.randrange(len(frame))] ^= 1 << rng.randrange(8)
        elif mutation == 3:
            frame = frame * 2
        out += frame
    return bytes(out[:n_bytes])


def fuzz(sim: SimMeter, meter: FirmataMeter, data: bytes) -> None:
    boot = meter.identity().boot_count
    for i in range(0, len(data), 1024):
        # A serial line takes bytes at its own pace: keep at most 4 kB ahead of the bridge
        # (beyond that the host's write blocks, on any machine speed), and keep reading.
        while i - sim.uart_counts()["from_host"] > 4096:
            meter.link.receive(0.02)
        meter.link.send(data[i : i + 1024])
        meter.link.receive(0.0)
    counts = sim.uart_counts()
    while counts["from_host"] < len(data):  # drain until the bridge has delivered it all
        meter.link.receive(0.05)
        counts = sim.uart_counts()
    meter.link.send(bytes((0xF7,) * 3 + (0xFF,)))  # end any sysex in progress; reset pins
    t0 = sim.sim_time()
    while sim.sim_time() - t0 < 4.0:  # a signature the fuzz may have asked for ends
        meter.link.receive(0.05)
    assert sim.alive()
    meter.link.send(bytes((0xF9,)))
    deadline = time.monotonic() + 10
    versions: list[Version] = []
    while not versions and time.monotonic() < deadline:
        versions = [m for m in meter.link.receive(0.1) if isinstance(m, Version)]
    assert versions, "no answer to a version query after the fuzz"
    assert meter.identity(refresh=True).boot_count == boot  # no watchdog reset, no crash
    meter.start_stream(0.1)
    readings = []
    deadline = time.monotonic() + 20
    while len(readings) < 5 and time.monotonic() < deadline:
        readings += meter.next_readings(0.5)
    meter.stop_stream()
    assert len(readings) >= 5 and all(r.voltage_v > 200 for r in readings[-3:])
    assert counts["delivered"] + counts["receiver_off"] + counts["overrun"] == counts["from_host"]


@pytest.fixture
def fuzz_meter(sim_meter_factory: SimFactory) -> tuple[SimMeter, FirmataMeter]:
    sim, meter = sim_meter_factory(speed=0)
    sim.set_waveform(Waveform(v_rms=230, i_rms=3))
    return sim, meter


def test_20_kb_of_fuzz_leaves_the_meter_answering(
    fuzz_meter: tuple[SimMeter, FirmataMeter],
) -> None:
    fuzz(*fuzz_meter, traffic(20_000, seed=14))


@pytest.mark.slow
def test_200_kb_of_fuzz_leaves_the_meter_answering(
    fuzz_meter: tuple[SimMeter, FirmataMeter],
) -> None:
    fuzz(*fuzz_meter, traffic(200_000, seed=1414))
