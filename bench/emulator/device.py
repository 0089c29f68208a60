"""The device side of the meter protocol: a pure state machine (bytes in → bytes out).

:class:`MeterDevice` knows nothing about ptys or pacing (see :mod:`bench.emulator.farm`).
Link time (``now``, real seconds) paces replies and streams; the physics runs on a
simulated clock so energy integrates in simulated time.
"""

from __future__ import annotations

import hashlib
import hmac
import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass, field

from eth_keys import keys  # imported with the emulator, never while a run's clock ticks

from bench import attestation
from bench.config import Faults
from bench.devices import wire
from bench.devices.reading import Calibration
from bench.devices.wire import AuthCmd, Cmd, ErrorCode
from bench.emulator.physics import MeterPhysics
from bench.transport import firmata as fm
from bench.transport.packing import pack_bytes, unpack_bytes, unpack_uint

NUM_PINS = 20
RESERVED_PINS = frozenset((0, 1, 7))
ANALOG_PINS = range(14, 20)
MODES_DIGITAL = (0x00, 0x01, 0x0B)
TX_BUFFER = 64
READING_TIMES_KEPT = 4096  # READING frames whose meter time the host can still look up
PIN_MODE_IGNORE = 0x7F  # Firmata's mode for a pin the firmware does not let the host use
NONCE_LIFETIME_S = 30.0
STANDARD_FIRMATA = "StandardFirmata.ino"


@dataclass
class Eeprom:
    """What survives a reboot."""

    meter_id: str
    key: bytes = wire.DEFAULT_KEY
    boot_count: int = 0
    relay_closed: bool = True
    calibration: Calibration = field(default_factory=Calibration)
    calibrated: bool = False
    auth_failures: int = 0
    import_mwh: float = 0.0
    export_mwh: float = 0.0
    signing_key: bytes | None = field(default=None, repr=False)  # never leaves the meter
    signed_seq: int = 0
    signed_time_s: int = 0


@dataclass
class DeviceStats:
    """What the device sent and suffered."""

    frames_sent: int = 0
    readings_sent: int = 0
    analog_sent: int = 0
    frames_dropped: int = 0
    frames_truncated: int = 0
    garbage_bytes: int = 0
    rx_bytes: int = 0  # bytes that reached the meter's UART
    rx_dropped: int = 0  # of them, lost to a full receive ring


class MeterDevice:
    """One emulated gridmeter: protocol, auth, streaming, analog reports, faults."""

    def __init__(
        self,
        eeprom: Eeprom,
        physics: MeterPhysics,
        *,
        faults: Faults | None = None,
        firmware_version: tuple[int, int, int] = (1, 0, 0),
        seed: int | None = None,
        nonce_source: Callable[[int], bytes] = os.urandom,
        entropy_source: Callable[[int], bytes] = os.urandom,
        sign_s: float = 0.0,
    ) -> None:
        self.eeprom = eeprom
        self.physics = physics
        self.faults = faults or Faults()
        self.firmware_version = firmware_version
        self.stats = DeviceStats()
        self._rng = random.Random(seed)
        self._nonce_source = nonce_source
        self._entropy = entropy_source
        self.sign_s = sign_s  # link time one signature keeps the meter busy (AVR: up to 3 s)
        self.busy_until = 0.0  # the loop is signing until then: it reads no bytes
        self._deferred = b""  # the reply the signature in progress will send
        self.before_relay: Callable[[], None] = lambda: None
        """Called just before the relay switches (the farm integrates the meters that
        follow this one's power up to that instant)."""
        self.keep: Callable[[Eeprom], None] = lambda _eeprom: None
        """Called with the EEPROM before the meter reports its counters or answers a
        command that changed it (a memory file saves it then: :mod:`.memory`)."""
        if eeprom.signing_key is None:  # first power-up: the key is born inside the meter
            eeprom.signing_key = self._new_private_key(b"")
        self._public_key: bytes | None = None  # derived at the first SIGNER (~10 ms)
        self._parser = fm.FirmataParser(max_sysex=128, lone_version_is_query=True)
        self._seq = 0
        self._reading_times: dict[tuple[int, int], float] = {}
        self._locked_until = 0.0  # survives SYSTEM_RESET; boot() recomputes it from EEPROM
        self._reset_state(0.0)

    # -- lifecycle -----------------------------------------------------------------
    def boot(self, now: float) -> bytes:
        """Power-up or reset: count the boot, reset RAM state, announce (§4)."""
        self.eeprom.boot_count = (self.eeprom.boot_count + 1) % 16384
        self.keep(self.eeprom)
        self._seq = 0
        self.busy_until, self._deferred = 0.0, b""
        self._reset_state(now)
        self._parser.reset()
        failures = self.eeprom.auth_failures
        self._locked_until = now + self._lockout_s(failures) if failures >= 3 else 0.0
        out = self._version() + self._firmware()
        if not self.faults.wrong_firmware:
            out += self._frame(Cmd.IDENTITY, wire.encode_identity(self._identity()))
        return out

    def _reset_state(self, now: float) -> None:
        self._stream_s = 0.0
        self._next_reading = math.inf
        self._sampling_s = 0.019
        self._next_sample = math.inf
        self._analog_on: set[int] = set()
        self._digital_on: set[int] = set()
        self._reported: dict[int, int] = {}
        self._modes = [0x02 if p in ANALOG_PINS else 0x00 for p in range(NUM_PINS)]
        self._states = [0] * NUM_PINS  # StandardFirmata's pin state: output level, pull-up 1
        self._nonce: tuple[bytes, float] | None = None

    # -- link entry points ---------------------------------------------------------
    def receive(self, data: bytes, now: float) -> bytes:
        """Bytes from the host; returns the immediate replies."""
        out = bytearray()
        for msg in self._parser.feed(data):
            out += self._handle(msg, now)
        return bytes(out)

    def next_due(self) -> float:
        """Link time of the next periodic output (inf when nothing is scheduled)."""
        due = min(self._next_reading, self._next_sample)
        if self._deferred:
            due = min(due, self.busy_until)
        return max(due, self.busy_until)

    def poll(self, now: float, room: int) -> bytes:
        """Periodic output due by ``now`` that fits in ``room`` bytes of TX buffer."""
        if now < self.busy_until:
            return b""  # signing: streamed frames wait
        out = bytearray(self._deferred)  # Serial.write blocks until it fits: no room check
        self._deferred = b""
        room -= len(out)
        if now >= self._next_reading and room >= 38:
            frame = self._reading_frame(now)
            out += frame
            self._next_reading = max(self._next_reading + self._stream_s, now - self._stream_s)
            room -= len(frame)
        if now >= self._next_sample and room >= 3 * len(self._analog_on):
            t_adc = self._next_sample  # the ADC samples on its own clock, not the loop's
            for ch in sorted(self._analog_on):
                out += self._emit(fm.analog(ch, self._sample(ch, t_adc)))
                self.stats.analog_sent += 1
            self._next_sample = max(self._next_sample + self._sampling_s, now - 0.1)
        return bytes(out)

    @property
    def parser_malformed(self) -> int:
        """Malformed messages received from the host."""
        return self._parser.malformed

    # -- message handling ----------------------------------------------------------
    def _handle(self, msg: fm.Message, now: float) -> bytes:
        if isinstance(msg, fm.VersionQuery):
            return self._version()
        if isinstance(msg, fm.Sysex):
            return self._sysex(msg.command, msg.payload, now)
        if isinstance(msg, fm.ReportAnalog):
            if msg.channel < 6:
                if msg.enable:
                    self._analog_on.add(msg.channel)
                    if self._next_sample == math.inf:
                        self._next_sample = now
                else:
                    self._analog_on.discard(msg.channel)
                    if not self._analog_on:
                        self._next_sample = math.inf
            return b""
        if isinstance(msg, fm.ReportDigital):
            if msg.port < 3 and msg.enable:
                self._digital_on.add(msg.port)
                self._reported[msg.port] = self._port_inputs(msg.port)
                return self._emit(fm.digital(msg.port, self._reported[msg.port]))
            self._digital_on.discard(msg.port)
            return b""
        if isinstance(msg, fm.SetPinMode):
            if (
                msg.pin < NUM_PINS
                and msg.pin not in RESERVED_PINS
                and msg.mode in self._modes_of(msg.pin)
            ):
                self._modes[msg.pin] = msg.mode
                self._states[msg.pin] = int(msg.mode == 0x0B)
                return self._report_changes()
            return b""
        if isinstance(msg, fm.SetDigitalPin):
            self._write_pin(msg.pin, msg.value & 1)
            return b""
        if isinstance(msg, fm.Digital):
            for bit in range(8):
                self._write_pin(msg.port * 8 + bit, (msg.mask >> bit) & 1)
            return b""
        if isinstance(msg, fm.SystemReset):
            self._reset_state(now)
        return b""

    def _sysex(self, cmd: int, p: bytes, now: float) -> bytes:
        if cmd == fm.REPORT_FIRMWARE:
            return self._firmware()
        if cmd == fm.CAPABILITY_QUERY:
            return self._frame(fm.CAPABILITY_RESPONSE, self._capabilities())
        if cmd == fm.ANALOG_MAPPING_QUERY:
            mapping = bytes(pin - 14 if pin in ANALOG_PINS else 0x7F for pin in range(NUM_PINS))
            return self._frame(fm.ANALOG_MAPPING_RESPONSE, mapping)
        if cmd == fm.PIN_STATE_QUERY:
            return self._pin_state(p)
        if cmd == fm.SAMPLING_INTERVAL and len(p) == 2:
            self._sampling_s = max(1, unpack_uint(p, 0, 14)) / 1000
            return b""
        if not 0x01 <= cmd <= 0x0F or self.faults.wrong_firmware:
            return b""
        handlers: dict[int, Callable[[bytes, float], bytes]] = {
            Cmd.IDENTITY: self._cmd_identity,
            Cmd.READING: self._cmd_reading,
            Cmd.STREAM: self._cmd_stream,
            Cmd.CALIBRATION: self._cmd_calibration,
            Cmd.CHALLENGE: self._cmd_challenge,
            Cmd.AUTH: self._cmd_auth,
            Cmd.SIGNER: self._cmd_signer,
            Cmd.SIGNED_READING: self._cmd_signed_reading,
        }
        handler = handlers.get(cmd)
        if handler is None:
            return self._error(ErrorCode.UNKNOWN_COMMAND, cmd)
        return handler(p, now)

    def _cmd_identity(self, p: bytes, now: float) -> bytes:
        if p:
            return self._error(ErrorCode.BAD_LENGTH, Cmd.IDENTITY, len(p))
        return self._frame(Cmd.IDENTITY, wire.encode_identity(self._identity()))

    def _cmd_reading(self, p: bytes, now: float) -> bytes:
        if p:
            return self._error(ErrorCode.BAD_LENGTH, Cmd.READING, len(p))
        return self._reading_frame(now)

    def _cmd_stream(self, p: bytes, now: float) -> bytes:
        if len(p) != 2:
            return self._error(ErrorCode.BAD_LENGTH, Cmd.STREAM, len(p))
        ms = unpack_uint(p, 0, 14)
        if ms == 0:
            self._stream_s, self._next_reading = 0.0, math.inf
        else:
            self._stream_s = max(ms, 10) / 1000
            self._next_reading = now + self._stream_s
        return b""

    def _cmd_calibration(self, p: bytes, now: float) -> bytes:
        if p:
            return self._error(ErrorCode.BAD_LENGTH, Cmd.CALIBRATION, len(p))
        return self._frame(Cmd.CALIBRATION, wire.encode_calibration(self.eeprom.calibration))

    def _cmd_signer(self, p: bytes, now: float) -> bytes:
        if p:
            return self._error(ErrorCode.BAD_LENGTH, Cmd.SIGNER, len(p))
        if self._public_key is None:
            assert self.eeprom.signing_key is not None
            self._public_key = keys.PrivateKey(self.eeprom.signing_key).public_key.to_bytes()
        return self._frame(Cmd.SIGNER, wire.encode_signer(self._public_key))

    def _cmd_signed_reading(self, p: bytes, now: float) -> bytes:
        if p:
            return self._error(ErrorCode.BAD_LENGTH, Cmd.SIGNED_READING, len(p))
        ee = self.eeprom
        assert ee.signing_key is not None
        self.physics.advance()
        ee.signed_seq += 1  # persisted before the reply: no seq is ever signed twice
        ee.signed_time_s = max(ee.signed_time_s, int(self.physics.sim_clock()))
        self.keep(ee)
        signed = attestation.sign_counters(
            ee.signing_key,
            meter_id=attestation.meter_id_bytes32(ee.meter_id),
            seq=ee.signed_seq,
            import_wh=int(ee.import_mwh) // 1000 % (1 << 32),
            export_wh=int(ee.export_mwh) // 1000 % (1 << 32),
            time_s=ee.signed_time_s,
        )
        frame = self._frame(Cmd.SIGNED_READING, wire.encode_signed_reading(signed))
        if self.sign_s <= 0:
            return frame
        self.busy_until, self._deferred = now + self.sign_s, frame
        return b""

    def _new_private_key(self, host_entropy: bytes) -> bytes:
        """SHA-256 of fresh meter entropy and the host's, rehashed until in 1 … n−1."""
        key = hashlib.sha256(self._entropy(32) + host_entropy).digest()
        while not 0 < int.from_bytes(key, "big") < attestation.SECP256K1_N:
            key = hashlib.sha256(key).digest()
        return key

    def _cmd_challenge(self, p: bytes, now: float) -> bytes:
        if now < self._locked_until:
            return self._error(ErrorCode.LOCKED_OUT, Cmd.CHALLENGE, self._lock_left(now))
        if p:
            return self._error(ErrorCode.BAD_LENGTH, Cmd.CHALLENGE, len(p))
        nonce = self._nonce_source(wire.NONCE_BYTES)
        self._nonce = (nonce, now + NONCE_LIFETIME_S)
        return self._frame(Cmd.CHALLENGE, pack_bytes(nonce))

    def _cmd_auth(self, p: bytes, now: float) -> bytes:
        if now < self._locked_until:
            return self._error(ErrorCode.LOCKED_OUT, Cmd.AUTH, self._lock_left(now))
        parts = wire.split_auth(p)
        if parts is None:
            return self._error(ErrorCode.BAD_LENGTH, Cmd.AUTH, len(p))
        if self._nonce is None or now > self._nonce[1]:
            self._nonce = None
            return self._error(ErrorCode.NO_CHALLENGE, Cmd.AUTH)
        nonce, _ = self._nonce
        self._nonce = None
        msg, tag = parts
        expected = pack_bytes(wire.auth_tag(self.eeprom.key, nonce, msg))
        if not hmac.compare_digest(expected, tag):
            self.eeprom.auth_failures += 1
            self.keep(self.eeprom)  # a lockout survives a power cut
            failures = self.eeprom.auth_failures
            if failures >= 3:
                self._locked_until = now + self._lockout_s(failures)
            return self._error(ErrorCode.BAD_TAG, Cmd.AUTH, failures)
        self.eeprom.auth_failures = 0
        return self._auth_command(msg[1], msg[2:], len(p))

    def _auth_command(self, cmd: int, args: bytes, received: int) -> bytes:
        """Run an authenticated command; ``received``: the AUTH payload's septets (§5.9)."""
        ee = self.eeprom
        if cmd == AuthCmd.RELAY:
            if len(args) != 1:
                return self._error(ErrorCode.BAD_LENGTH, Cmd.AUTH, received)
            if args[0] > 1:
                return self._error(ErrorCode.BAD_VALUE, Cmd.AUTH, 1)
            self.before_relay()
            self.physics.advance()
            ee.relay_closed = bool(args[0])
        elif cmd == AuthCmd.SET_CALIBRATION:
            cal = wire.decode_calibration(args)
            if cal is None:
                return self._error(ErrorCode.BAD_LENGTH, Cmd.AUTH, received)
            bad = self._bad_calibration_field(cal)
            if bad:
                return self._error(ErrorCode.BAD_VALUE, Cmd.AUTH, bad)
            self.physics.advance()
            ee.calibration, ee.calibrated = cal, True
        elif cmd == AuthCmd.SET_METER_ID:
            text = args.decode("ascii")
            if not 1 <= len(text) <= 16 or any(c not in wire.METER_ID_CHARS for c in text):
                return self._error(ErrorCode.BAD_VALUE, Cmd.AUTH, 1)
            ee.meter_id = text
        elif cmd == AuthCmd.SET_KEY:
            if len(args) != 64:
                return self._error(ErrorCode.BAD_LENGTH, Cmd.AUTH, received)
            if not wire.canonical_bytes(args):
                return self._error(ErrorCode.BAD_VALUE, Cmd.AUTH, 1)
            ee.key = unpack_bytes(args)
        elif cmd == AuthCmd.NEW_SIGNING_KEY:
            if len(args) != 2 * wire.ENTROPY_BYTES:
                return self._error(ErrorCode.BAD_LENGTH, Cmd.AUTH, received)
            if not wire.canonical_bytes(args):
                return self._error(ErrorCode.BAD_VALUE, Cmd.AUTH, 1)
            ee.signing_key = self._new_private_key(unpack_bytes(args))
            self._public_key = None
        else:
            return self._error(ErrorCode.UNKNOWN_COMMAND, Cmd.AUTH)
        self.keep(ee)
        return self._frame(Cmd.AUTH, bytes((cmd, 0)))

    # -- helpers -------------------------------------------------------------------
    @staticmethod
    def _bad_calibration_field(cal: Calibration) -> int:
        if cal.v_gain_uv_per_count == 0:
            return 1
        if cal.i_gain_ua_per_count == 0:
            return 2
        if cal.v_offset_counts > 1023:
            return 3
        if cal.i_offset_counts > 1023:
            return 4
        return 0

    @staticmethod
    def _lockout_s(failures: int) -> float:
        return float(min(2 ** (failures - 3), 64))

    def _lock_left(self, now: float) -> int:
        return math.ceil(self._locked_until - now)

    def _identity(self) -> wire.IdentityFrame:
        ee = self.eeprom
        return wire.IdentityFrame(
            proto=(wire.PROTO_MAJOR, wire.PROTO_MINOR),
            firmware_version=self.firmware_version,
            boot_count=ee.boot_count,
            key_provisioned=ee.key != wire.DEFAULT_KEY,
            calibrated=ee.calibrated,
            meter_id=ee.meter_id,
            signing_key=ee.signing_key is not None,
        )

    def _version(self) -> bytes:
        minor = 5 if self.faults.wrong_firmware else wire.FIRMATA_VERSION[1]
        return self._emit(bytes((fm.REPORT_VERSION, wire.FIRMATA_VERSION[0], minor)))

    def _firmware(self) -> bytes:
        if self.faults.wrong_firmware:
            return self._frame(fm.REPORT_FIRMWARE, wire.encode_firmware(STANDARD_FIRMATA, 2, 5))
        major, minor, _ = self.firmware_version
        return self._frame(
            fm.REPORT_FIRMWARE, wire.encode_firmware(wire.FIRMWARE_NAME, major, minor)
        )

    def _capabilities(self) -> bytes:
        out = bytearray()
        for pin in range(NUM_PINS):
            if pin not in RESERVED_PINS:
                if pin in ANALOG_PINS:
                    out += bytes((0x02, 10))
                for mode in MODES_DIGITAL:
                    out += bytes((mode, 1))
            out.append(0x7F)
        return bytes(out)

    def _pin_state(self, p: bytes) -> bytes:
        """PIN_STATE_RESPONSE as StandardFirmata sends it (§4); nothing without a pin."""
        if not p:
            return b""
        pin = p[0]
        if pin >= NUM_PINS:
            return self._frame(fm.PIN_STATE_RESPONSE, bytes((pin,)))
        if pin in RESERVED_PINS:
            return self._frame(fm.PIN_STATE_RESPONSE, bytes((pin, PIN_MODE_IGNORE, 0)))
        return self._frame(fm.PIN_STATE_RESPONSE, bytes((pin, self._modes[pin], self._states[pin])))

    def _modes_of(self, pin: int) -> tuple[int, ...]:
        return (*MODES_DIGITAL, 0x02) if pin in ANALOG_PINS else MODES_DIGITAL

    def _write_pin(self, pin: int, value: int) -> None:
        if pin < NUM_PINS and pin not in RESERVED_PINS and self._modes[pin] == 0x01:
            self._states[pin] = value

    def _port_inputs(self, port: int) -> int:
        mask = 0
        for bit in range(8):
            pin = port * 8 + bit
            if pin < NUM_PINS and self._modes[pin] == 0x0B:
                mask |= 1 << bit
        return mask

    def _report_changes(self) -> bytes:
        out = bytearray()
        for port in sorted(self._digital_on):
            mask = self._port_inputs(port)
            if mask != self._reported.get(port):
                self._reported[port] = mask
                out += self._emit(fm.digital(port, mask))
        return bytes(out)

    def _sample(self, channel: int, now: float) -> int:
        return self.physics.adc_counts(channel, now)

    def _reading_frame(self, now: float) -> bytes:
        m = self.physics.measure()
        self.keep(self.eeprom)
        clipped = self.physics.clipped()
        frame = wire.ReadingFrame(
            seq=self._seq,
            boot_count=self.eeprom.boot_count,
            relay_closed=self.eeprom.relay_closed,
            valid=not clipped,
            locked_out=self._locked_until > now,
            vrms_cv=round(m.voltage_v * 100),
            irms_ma=round(m.current_a * 1000),
            power_dw=round(m.power_w * 10),
            pf_milli=round(m.power_factor * 1000),
            freq_chz=round(m.frequency_hz * 100),
            import_mwh=int(self.eeprom.import_mwh),
            export_mwh=int(self.eeprom.export_mwh),
            clipped=clipped,
        )
        self._note_reading_time(frame.boot_count, frame.seq, self.physics.integrated_to_s)
        self._seq = (self._seq + 1) % (1 << 28)
        self.stats.readings_sent += 1
        return self._frame(Cmd.READING, wire.encode_reading(frame))

    def _note_reading_time(self, boot_count: int, seq: int, t_s: float) -> None:
        times = self._reading_times
        times[(boot_count, seq)] = t_s
        if len(times) > READING_TIMES_KEPT:
            del times[next(iter(times))]

    def reading_time_s(self, boot_count: int, seq: int) -> float | None:
        """The meter's own clock (simulated seconds) when it read the counters of its
        READING frame ``seq`` of boot ``boot_count``; None when not among the last
        :data:`READING_TIMES_KEPT` frames. Not on the wire: an emulator in the host's
        process tells it so the bench can cut its counters on the meter's time."""
        return self._reading_times.get((boot_count, seq))

    def _error(self, code: int, command: int, detail: int = 0) -> bytes:
        return self._frame(Cmd.ERROR, wire.encode_error(wire.ErrorFrame(code, command, detail)))

    def _frame(self, command: int, payload: bytes) -> bytes:
        return self._emit(fm.sysex(command, payload))

    def _emit(self, frame: bytes) -> bytes:
        """Apply the output faults to one frame."""
        self.stats.frames_sent += 1
        f = self.faults
        rng = self._rng
        if f.drop_rate and rng.random() < f.drop_rate:
            self.stats.frames_dropped += 1
            return b""
        if f.truncate_rate and len(frame) > 1 and rng.random() < f.truncate_rate:
            self.stats.frames_truncated += 1
            frame = frame[: rng.randrange(1, len(frame))]
        if f.garbage_rate and rng.random() < f.garbage_rate:
            junk = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 16)))
            self.stats.garbage_bytes += len(junk)
            frame = junk + frame
        return frame
