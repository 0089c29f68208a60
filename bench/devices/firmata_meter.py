"""Driver for meters running the gridmeter protocol (AVR firmware or emulator).

Not thread-safe: one thread drives a meter (normally its :class:`MeterPoller`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
from collections.abc import Callable
from typing import TypeVar

from bench.attestation import SignedCounters, meter_id_bytes32
from bench.devices import wire
from bench.devices.reading import Calibration, Identity, Reading
from bench.devices.wire import Cmd
from bench.errors import DeviceError, LinkSilentError, TransportError
from bench.transport import firmata
from bench.transport.firmata import Message, Sysex, Version
from bench.transport.link import DEFAULT_BAUD, FirmataLink, LinkStats, handshake_or_close, open_link
from bench.transport.packing import pack_bytes, pack_uint, unpack_bytes

log = logging.getLogger(__name__)
T = TypeVar("T")
SIGN_TIMEOUT_S = 5.0  # PROTOCOL.md §5.11: a signature may take 3 s on an AVR


def reading_from_frame(f: wire.ReadingFrame, meter_id: str, t_s: float) -> Reading:
    """Turn a wire READING into a :class:`Reading` with SI units."""
    return Reading(
        meter_id=meter_id,
        t_s=t_s,
        voltage_v=f.vrms_cv / 100,
        current_a=f.irms_ma / 1000,
        power_w=f.power_dw / 10,
        power_factor=f.pf_milli / 1000,
        frequency_hz=f.freq_chz / 100,
        energy_import_wh=f.import_mwh / 1000,
        energy_export_wh=f.export_mwh / 1000,
        relay_closed=f.relay_closed,
        seq=f.seq,
        boot_count=f.boot_count,
        valid=f.valid,
        locked_out=f.locked_out,
        clipped=f.clipped,
    )


class FirmataMeter:
    """A gridmeter over a :class:`FirmataLink`: identity, readings, relay, calibration."""

    def __init__(
        self,
        link: FirmataLink,
        *,
        key: bytes = wire.DEFAULT_KEY,
        timeout_s: float = 0.5,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.link = link
        self.url = link.url
        self._key = key
        self._timeout_s = timeout_s
        self._clock = clock
        self._readings: list[Reading] = []
        self._stream_ms = 0
        self._identity: Identity | None = None
        self._firmata: tuple[int, int] = (0, 0)
        self._firmware: tuple[str, tuple[int, int]] = ("", (0, 0))
        self._signer: str | None = None
        self._signed_seq = 0
        self.reboots_seen = 0

    @classmethod
    def open(
        cls,
        url: str,
        *,
        baud: int = DEFAULT_BAUD,
        reset_wait_s: float = 0.0,
        timeout_s: float = 0.5,
        key: bytes = wire.DEFAULT_KEY,
        backend: str = "native",
        clock: Callable[[], float] = time.monotonic,
    ) -> FirmataMeter:
        """Open ``url`` (any pyserial URL), check the firmware and fetch the identity.

        ``reset_wait_s``: wait after opening for an Arduino's auto-reset (about 2 s for
        a real Uno, 0 for emulators). ``backend``: ``"native"`` or ``"pyfirmata2"``.
        """
        link = open_link(url, baud=baud, reset_wait_s=reset_wait_s, backend=backend)
        return handshake_or_close(link, cls(link, key=key, timeout_s=timeout_s, clock=clock))

    # -- session -----------------------------------------------------------------
    def handshake(self) -> Identity:
        """Query Firmata version, firmware name and identity; refuse other firmware."""
        self.link.send(bytes((firmata.REPORT_VERSION,)))
        self._firmata = self._await("Firmata version", self._match_version)
        self.link.send(firmata.sysex(firmata.REPORT_FIRMWARE))
        self._firmware = self._await("firmware name", self._match_firmware)
        name = self._firmware[0]
        if name != wire.FIRMWARE_NAME:
            raise DeviceError(
                f"wrong firmware on {self.url}: it reports {name!r}, not "
                f"{wire.FIRMWARE_NAME!r}. Flash the meter firmware (make -C firmware flash), "
                "or declare the board kind = 'generic' in the bench config."
            )
        return self.identity(refresh=True)

    def identity(self, *, refresh: bool = False) -> Identity:
        """The meter's identity (cached from the handshake unless ``refresh``)."""
        if refresh or self._identity is None:
            frame = self._request(Cmd.IDENTITY, b"", "identity", self._match_identity)
            self._set_identity(frame)
        assert self._identity is not None
        return self._identity

    @property
    def meter_id(self) -> str:
        """The meter id from the last identity."""
        return self.identity().meter_id

    # -- readings ----------------------------------------------------------------
    def read(self) -> Reading:
        """Ask for one reading and return the first reading frame that arrives."""
        self.link.send(firmata.sysex(Cmd.READING))
        return self._await("reading", self._take_reading)

    def start_stream(self, interval_s: float) -> None:
        """Make the meter send a reading every ``interval_s`` (0.01 … 16.383 s)."""
        self._stream_ms = max(10, min(16383, round(interval_s * 1000)))
        self._send_stream()

    def stop_stream(self) -> None:
        """Stop streaming."""
        self._stream_ms = 0
        self._send_stream()

    def next_readings(self, timeout_s: float) -> list[Reading]:
        """Streamed readings that arrived within ``timeout_s`` (maybe none)."""
        if not self._readings:
            for msg in self.link.receive(timeout_s):
                self._background(msg)
        out, self._readings = self._readings, []
        return out

    # -- commands ----------------------------------------------------------------
    def calibration(self) -> Calibration:
        """The meter's calibration."""
        return self._request(Cmd.CALIBRATION, b"", "calibration", self._match_calibration)

    def set_calibration(self, cal: Calibration) -> None:
        """Store a new calibration (authenticated)."""
        self._auth(wire.AuthCmd.SET_CALIBRATION, wire.encode_calibration(cal))

    def set_relay(self, closed: bool) -> None:
        """Close (connect the load) or open the relay (authenticated)."""
        self._auth(wire.AuthCmd.RELAY, bytes((int(closed),)))

    def set_meter_id(self, meter_id: str) -> None:
        """Rename the meter (authenticated); the identity is refreshed."""
        self._auth(wire.AuthCmd.SET_METER_ID, meter_id.encode("ascii"))
        self.identity(refresh=True)

    def set_key(self, new_key: bytes) -> None:
        """Replace the meter's 32-byte key (authenticated with the current key)."""
        if len(new_key) != 32:
            raise DeviceError("a meter key has 32 bytes; give it as 64 hex digits")
        self._auth(wire.AuthCmd.SET_KEY, pack_bytes(new_key))
        self._key = new_key

    # -- meter-signed readings (PROTOCOL.md §5.10-§5.12) ---------------------------
    def signer_public_key(self) -> bytes:
        """The meter's 64-byte signing public key X || Y."""
        self._require_signing()
        return self._request(
            Cmd.SIGNER, b"", "signer public key", self._match(Cmd.SIGNER, wire.decode_signer)
        )

    def signer_address(self, *, refresh: bool = False) -> str:
        """The meter's signing address (read once per connection unless ``refresh``)."""
        if refresh or self._signer is None:
            self._signer = wire.signer_address(self.signer_public_key())
        return self._signer

    def signed_reading(self) -> SignedCounters:
        """A new meter-signed reading, verified against the meter's address.

        Raises :class:`DeviceError` when the signature does not recover the meter's
        address or the seq does not increase (a corrupted, tampered or replayed reply).
        """
        address = self.signer_address()
        meter_id = meter_id_bytes32(self.meter_id)

        def decode(p: bytes) -> SignedCounters:
            found = wire.decode_signed_reading(p, meter_id)
            if found is None:
                raise DeviceError(
                    f"meter {self.meter_id} on {self.url} sent a malformed signed reading "
                    f"({len(p)} septets, non-canonical or wrong length): the reply was "
                    "corrupted or tampered with; check the cable and retry"
                )
            return found

        signed = self._request(
            Cmd.SIGNED_READING,
            b"",
            "signed reading",
            self._match(Cmd.SIGNED_READING, decode),
            timeout_s=max(self._timeout_s, SIGN_TIMEOUT_S),
        )
        from eth_keys.exceptions import BadSignature  # lazy, as in bench.attestation

        try:
            recovered = signed.signer_address()
        except (ValueError, BadSignature) as exc:
            recovered = f"no address ({exc})"
        if recovered != address:
            raise DeviceError(
                f"signed reading {signed.seq} from meter {self.meter_id} on {self.url} does "
                f"not verify: it recovers {recovered}, the meter's address is {address}. "
                "The reply was corrupted or tampered with on the link, or the meter's "
                "signing key changed; check the cable, read its signer again "
                "(signer_address(refresh=True)) and register the new address before retrying."
            )
        if signed.seq <= self._signed_seq:
            raise DeviceError(
                f"signed reading from meter {self.meter_id} on {self.url} has seq "
                f"{signed.seq}, not above the last one seen ({self._signed_seq}): a replayed "
                "reply or a meter that lost its EEPROM; do not use it, and re-commission "
                "the meter if it persists."
            )
        self._signed_seq = signed.seq
        return signed

    def new_signing_key(
        self, host_entropy: bytes | None = None, *, timeout_s: float = SIGN_TIMEOUT_S
    ) -> str:
        """Make the meter replace its signing key (authenticated); returns the new address.

        ``host_entropy`` (32 bytes, fresh random by default) is mixed into the meter's
        own; the meter must then be registered again under the new address.
        """
        self._require_signing(key_present=False)  # the firmware makes its first key lazily
        entropy = os.urandom(wire.ENTROPY_BYTES) if host_entropy is None else host_entropy
        if len(entropy) != wire.ENTROPY_BYTES:
            raise DeviceError("host entropy for a new signing key must be 32 bytes")
        self._auth(wire.AuthCmd.NEW_SIGNING_KEY, pack_bytes(entropy), timeout_s=timeout_s)
        self.identity(refresh=True)  # flags bit 2 is set now
        return self.signer_address(refresh=True)

    def _require_signing(self, *, key_present: bool = True) -> None:
        ident = self.identity()
        if ident.protocol_version < (1, 1) or (key_present and not ident.signing_key):
            raise DeviceError(
                f"meter {ident.meter_id} on {self.url} cannot sign readings (protocol "
                f"{ident.protocol_version[0]}.{ident.protocol_version[1]}, signing key "
                f"{'present' if ident.signing_key else 'absent'}); flash firmware 1.1 or "
                "newer, or register the bench as its attestor"
            )

    def challenge(self) -> bytes:
        """Ask for a fresh nonce (8 bytes)."""
        return self._request(Cmd.CHALLENGE, b"", "challenge", self._match_nonce)

    def stats(self) -> LinkStats:
        """Counters of the underlying link."""
        return self.link.stats()

    def close(self) -> None:
        """Stop streaming if on (best effort), close the link; idempotent."""
        if self._stream_ms:
            self._stream_ms = 0
            with contextlib.suppress(TransportError):
                self._send_stream()
        self.link.close()

    def __enter__(self) -> FirmataMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- internals ---------------------------------------------------------------
    def _auth(self, cmd: int, args: bytes, *, timeout_s: float | None = None) -> None:
        nonce = self.challenge()
        payload = wire.encode_auth(self._key, nonce, cmd, args)
        what = f"authenticated command {cmd}"
        self._request(Cmd.AUTH, payload, what, self._match_ack(cmd), timeout_s=timeout_s)

    def _send_stream(self) -> None:
        self.link.send(firmata.sysex(Cmd.STREAM, pack_uint(self._stream_ms, 14)))

    def _request(
        self,
        cmd: int,
        payload: bytes,
        what: str,
        match: Callable[[Message], T | None],
        *,
        timeout_s: float | None = None,
    ) -> T:
        self.link.send(firmata.sysex(cmd, payload))

        def match_or_error(msg: Message) -> T | None:
            if isinstance(msg, Sysex) and msg.command == Cmd.ERROR:
                err = wire.decode_error(msg.payload)
                if err is not None and err.command == cmd:
                    raise _refused(err, what, self.url)
            return match(msg)

        return self._await(what, match_or_error, timeout_s)

    def _await(
        self, what: str, match: Callable[[Message], T | None], timeout_s: float | None = None
    ) -> T:
        timeout_s = self._timeout_s if timeout_s is None else timeout_s
        deadline = time.monotonic() + timeout_s
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise LinkSilentError(
                    f"meter on {self.url} did not answer the {what} request within "
                    f"{timeout_s} s; check that it runs the gridmeter firmware at "
                    f"{DEFAULT_BAUD} baud and that the link is not stalled"
                )
            for msg in self.link.receive(min(left, 0.05)):
                found = match(msg)
                if found is not None:
                    return found
                self._background(msg)

    def _background(self, msg: Message) -> None:
        """Handle what nobody waited for: streamed readings, boot announcements, logs."""
        if not isinstance(msg, Sysex):
            return
        if msg.command == Cmd.READING:
            frame = wire.decode_reading(msg.payload)
            if frame is None:
                log.warning("%s: malformed reading frame (%d bytes)", self.url, len(msg.payload))
                return
            meter_id = self._identity.meter_id if self._identity else "?"
            self._readings.append(reading_from_frame(frame, meter_id, self._clock()))
        elif msg.command == Cmd.IDENTITY:
            ident = wire.decode_identity(msg.payload)
            if ident is not None and ident.proto[0] == wire.PROTO_MAJOR:
                self._set_identity(ident)
            else:
                log.warning("%s: ignored a malformed unsolicited identity frame", self.url)
        elif msg.command == firmata.STRING_DATA:
            log.info("%s says: %s", self.url, wire.decode_string(msg.payload))
        elif msg.command == Cmd.ERROR:
            log.warning("%s: unsolicited error reply %s", self.url, wire.decode_error(msg.payload))

    def _set_identity(self, f: wire.IdentityFrame) -> None:
        if f.proto[0] != wire.PROTO_MAJOR:
            raise DeviceError(
                f"wrong firmware on {self.url}: meter protocol {f.proto[0]}.{f.proto[1]}, "
                f"this bench speaks {wire.PROTO_MAJOR}.x; flash a matching firmware"
            )
        old = self._identity
        if old is not None and old.boot_count != f.boot_count:
            self.reboots_seen += 1
            log.info("%s rebooted (boot %d)", self.url, f.boot_count)
            if self._stream_ms:
                self._send_stream()
        self._identity = Identity(
            meter_id=f.meter_id,
            firmware_name=self._firmware[0],
            firmware_version=f.firmware_version,
            protocol_version=f.proto,
            firmata_version=self._firmata,
            boot_count=f.boot_count,
            key_provisioned=f.key_provisioned,
            calibrated=f.calibrated,
            signing_key=f.signing_key,
        )

    def _take_reading(self, msg: Message) -> Reading | None:
        if isinstance(msg, Sysex) and msg.command == Cmd.READING:
            frame = wire.decode_reading(msg.payload)
            if frame is not None:
                return reading_from_frame(frame, self.meter_id, self._clock())
        return None

    @staticmethod
    def _match(cmd: int, decode: Callable[[bytes], T | None]) -> Callable[[Message], T | None]:
        def match(msg: Message) -> T | None:
            if isinstance(msg, Sysex) and msg.command == cmd:
                found = decode(msg.payload)
                if found is None:
                    log.warning("malformed reply to sysex %02x (%d septets)", cmd, len(msg.payload))
                return found
            return None

        return match

    @staticmethod
    def _match_version(msg: Message) -> tuple[int, int] | None:
        return (msg.major, msg.minor) if isinstance(msg, Version) else None

    @staticmethod
    def _match_firmware(msg: Message) -> tuple[str, tuple[int, int]] | None:
        if isinstance(msg, Sysex) and msg.command == firmata.REPORT_FIRMWARE:
            return wire.decode_firmware(msg.payload)
        return None

    @staticmethod
    def _match_identity(msg: Message) -> wire.IdentityFrame | None:
        if isinstance(msg, Sysex) and msg.command == Cmd.IDENTITY:
            return wire.decode_identity(msg.payload)
        return None

    @staticmethod
    def _match_calibration(msg: Message) -> Calibration | None:
        if isinstance(msg, Sysex) and msg.command == Cmd.CALIBRATION:
            return wire.decode_calibration(msg.payload)
        return None

    @staticmethod
    def _match_nonce(msg: Message) -> bytes | None:
        if isinstance(msg, Sysex) and msg.command == Cmd.CHALLENGE and len(msg.payload) == 16:
            return unpack_bytes(msg.payload)
        return None

    @staticmethod
    def _match_ack(cmd: int) -> Callable[[Message], bool | None]:
        def match(msg: Message) -> bool | None:
            ok = isinstance(msg, Sysex) and msg.command == Cmd.AUTH
            return True if ok and msg.payload == bytes((cmd, 0)) else None  # type: ignore[union-attr]

        return match


_ADVICE = {
    wire.ErrorCode.BAD_TAG: "the bench's key for this meter is wrong; fix its 'key' in the config",
    wire.ErrorCode.LOCKED_OUT: "too many bad tags; wait {detail} s, then fix the key",
    wire.ErrorCode.NO_CHALLENGE: "the nonce expired or was used; retry the command",
    wire.ErrorCode.UNKNOWN_COMMAND: "the firmware is older than this bench; flash a newer one",
    wire.ErrorCode.BAD_LENGTH: "the firmware and bench disagree on the protocol; update one",
    wire.ErrorCode.BAD_VALUE: "a value is out of range (field {detail}); check the arguments",
    wire.ErrorCode.STORAGE: "the meter's EEPROM failed; replace or reflash the board",
}


def _refused(err: wire.ErrorFrame, what: str, url: str) -> wire.MeterRefusedError:
    try:
        code = wire.ErrorCode(err.code)
        advice = _ADVICE[code].format(detail=err.detail)
        name = code.name
    except ValueError:
        name, advice = f"code {err.code}", "update the bench or the firmware"
    return wire.MeterRefusedError(
        f"meter on {url} refused the {what}: {name} (detail {err.detail}); {advice}",
        code=err.code,
        command=err.command,
        detail=err.detail,
    )
