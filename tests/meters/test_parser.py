"""The Firmata parser never raises, recovers every intact frame, and counts the rest."""

from __future__ import annotations

import logging
import random

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from bench.devices import FirmataMeter, wire
from bench.transport import firmata as fm
from bench.transport.firmata import FirmataParser

seven = st.integers(0, 0x7F)
messages = st.one_of(
    st.builds(fm.Analog, st.integers(0, 15), st.integers(0, 0x3FFF)),
    st.builds(fm.Digital, st.integers(0, 15), st.integers(0, 0x3FFF)),
    st.builds(fm.ReportAnalog, st.integers(0, 15), st.booleans()),
    st.builds(fm.ReportDigital, st.integers(0, 15), st.booleans()),
    st.builds(fm.SetPinMode, seven, seven),
    st.builds(fm.SetDigitalPin, seven, st.integers(0, 1)),
    st.builds(fm.Version, seven, seven),
    st.builds(fm.SystemReset),
    st.builds(fm.Sysex, seven, st.binary(max_size=60).map(lambda b: bytes(x & 0x7F for x in b))),
)


def encode(msg: fm.Message) -> bytes:
    """Encode any host-side message (test helper, independent of the parser)."""
    if isinstance(msg, fm.Analog):
        return fm.analog(msg.channel, msg.value)
    if isinstance(msg, fm.Digital):
        return fm.digital(msg.port, msg.mask)
    if isinstance(msg, fm.ReportAnalog):
        return bytes((0xC0 | msg.channel, int(msg.enable)))
    if isinstance(msg, fm.ReportDigital):
        return bytes((0xD0 | msg.port, int(msg.enable)))
    if isinstance(msg, fm.SetPinMode):
        return bytes((0xF4, msg.pin, msg.mode))
    if isinstance(msg, fm.SetDigitalPin):
        return bytes((0xF5, msg.pin, msg.value))
    if isinstance(msg, fm.Version):
        return bytes((0xF9, msg.major, msg.minor))
    if isinstance(msg, fm.SystemReset):
        return b"\xff"
    assert isinstance(msg, fm.Sysex)
    return fm.sysex(msg.command, msg.payload)


def feed_in_chunks(parser: FirmataParser, data: bytes, rng: random.Random) -> list[fm.Message]:
    out: list[fm.Message] = []
    i = 0
    while i < len(data):
        n = rng.randint(1, 64)
        out += parser.feed(data[i : i + n])
        i += n
    return out


@given(st.lists(messages, max_size=30), st.lists(st.binary(max_size=8), max_size=31), st.integers())
def test_intact_frames_survive_data_junk_between_them(
    msgs: list[fm.Message], junk: list[bytes], seed: int
) -> None:
    junk7 = [bytes(b & 0x7F for b in j) for j in junk] + [b""] * (len(msgs) + 1)
    stream = junk7[0] + b"".join(encode(m) + junk7[i + 1] for i, m in enumerate(msgs))
    parser = FirmataParser()
    got = feed_in_chunks(parser, stream, random.Random(seed))
    assert got == msgs
    assert parser.malformed == 0
    assert parser.skipped_bytes == sum(len(j) for j in junk7[: len(msgs) + 1])


@given(st.binary(max_size=2000), st.integers())
def test_arbitrary_bytes_never_raise_and_chunking_does_not_matter(data: bytes, seed: int) -> None:
    whole = FirmataParser().feed(data)
    chunked = feed_in_chunks(FirmataParser(), data, random.Random(seed))
    assert chunked == whole
    assert len(whole) <= sum(b >= 0x80 for b in data)
    for m in whole:
        if isinstance(m, fm.Sysex):
            assert all(b < 0x80 for b in m.payload)


@given(st.lists(messages, min_size=1, max_size=20), st.integers())
@settings(max_examples=200)
def test_mutated_streams_lose_only_the_damaged_frames(msgs: list[fm.Message], seed: int) -> None:
    rng = random.Random(seed)
    frames = [encode(m) for m in msgs]
    candidates = [i for i, f in enumerate(frames) if len(f) > 1]
    assume(candidates)
    damaged = rng.choice(candidates)
    frames[damaged] = frames[damaged][: rng.randrange(1, len(frames[damaged]))]
    parser = FirmataParser()
    got = feed_in_chunks(parser, b"".join(frames), rng)
    assert got == msgs[:damaged] + msgs[damaged + 1 :]
    # a truncated last frame is still waiting for its bytes; any other is dropped
    assert parser.malformed == (0 if damaged == len(frames) - 1 else 1)


@given(st.binary(max_size=80).map(lambda b: bytes(x & 0x7F for x in b)))
def test_meter_payload_decoders_never_raise(payload: bytes) -> None:
    for decode in (
        wire.decode_reading,
        wire.decode_identity,
        wire.decode_calibration,
        wire.decode_error,
        wire.decode_firmware,
        wire.split_auth,
    ):
        decode(payload)
    wire.decode_string(payload)


def fuzz_stream(n_bytes: int, seed: int) -> bytes:
    """Random bytes mixed with valid and mutated meter frames."""
    rng = random.Random(seed)
    good = [
        fm.sysex(wire.Cmd.READING, bytes(35)),
        fm.sysex(wire.Cmd.IDENTITY, bytes((1, 0, 1, 0, 0, 1, 0, 0)) + b"m-1"),
        fm.analog(0, 512),
        bytes((0xF9, 2, 6)),
    ]
    out = bytearray()
    while len(out) < n_bytes:
        r = rng.random()
        if r < 0.4:
            out += rng.randbytes(rng.randint(1, 40))
        elif r < 0.7:
            out += rng.choice(good)
        else:
            g = bytearray(rng.choice(good))
            g[rng.randrange(len(g))] = rng.randrange(256)
            out += g[: rng.randint(1, len(g))]
    return bytes(out[:n_bytes])


class NullLink:
    url = "null://"

    def send(self, data: bytes) -> None:
        pass


def run_fuzz(n_bytes: int, caplog: pytest.LogCaptureFixture) -> None:
    from bench.emulator import EmulatedMeter

    data = fuzz_stream(n_bytes, seed=n_bytes)
    rng = random.Random(1)
    host = FirmataParser()
    device = EmulatedMeter("fuzz").device
    with caplog.at_level(logging.DEBUG, logger="bench.transport.firmata"):
        msgs = feed_in_chunks(host, data, rng)
        for i in range(0, len(data), 512):
            device.receive(data[i : i + 512], now=i / 1e5)
    driver = FirmataMeter(NullLink())
    for m in msgs:
        driver._background(m)  # what the driver does with unsolicited frames: never raises
    assert host.malformed > 0 and host.skipped_bytes > 0
    assert any(isinstance(m, fm.Sysex) for m in msgs)
    assert any("dropped malformed" in r.message for r in caplog.records)
    assert device.parser_malformed > 0


def test_fuzz_default_profile(caplog: pytest.LogCaptureFixture) -> None:
    """100 kB of hostile bytes through the host parser and the emulator's device side."""
    run_fuzz(100_000, caplog)


@pytest.mark.slow
def test_fuzz_one_million_bytes(caplog: pytest.LogCaptureFixture) -> None:
    """The dedicated fuzz profile: 1,000,000 bytes."""
    run_fuzz(1_000_000, caplog)


@pytest.mark.slow
@given(st.binary(max_size=4000), st.integers())
@settings(max_examples=5000, deadline=None)
def test_arbitrary_bytes_long_profile(data: bytes, seed: int) -> None:
    """The chunking/never-raise property with 5000 examples of up to 4 kB."""
    test_arbitrary_bytes_never_raise_and_chunking_does_not_matter.hypothesis.inner_test(data, seed)


@pytest.mark.slow
@given(st.lists(messages, min_size=1, max_size=40), st.integers())
@settings(max_examples=5000, deadline=None)
def test_mutated_streams_long_profile(msgs: list[fm.Message], seed: int) -> None:
    """The lose-only-the-damaged-frame property with 5000 examples."""
    test_mutated_streams_lose_only_the_damaged_frames.hypothesis.inner_test(msgs, seed)
