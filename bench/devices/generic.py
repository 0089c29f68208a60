"""Driver for a plain StandardFirmata board with analog voltage and current sensors.

Limits (documented, not hidden): Firmata samples each channel at most every 1 ms (19 ms
by default), far below what true RMS of 50 Hz needs. The host estimates RMS from the
samples of a window, which is only right when the samples sweep the waveform's phase:
:func:`check_sampling` refuses an interval that aliases with 50 or 60 Hz mains (a
multiple or divisor of 20 ms or 16.7 ms, or any interval whose samples visit too few
phases of the cycle within the window) or that the line cannot carry. Power is
Vrms·Irms·configured power factor, signed by the configured direction. Energy is
integrated on the host, so it starts at 0 on every connection and whatever flows while
the board is disconnected is lost. The relay is a plain digital output: no
authentication.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable
from fractions import Fraction

from bench.config import GenericConfig
from bench.devices.reading import Calibration, Identity, Reading
from bench.devices.wire import decode_firmware
from bench.errors import ConfigError, DeviceError, TransportError
from bench.transport import firmata as fm
from bench.transport.link import DEFAULT_BAUD, FirmataLink, handshake_or_close, open_link
from bench.transport.packing import pack_uint

OUTPUT = 0x01
MAINS_PERIODS_MS = {50: Fraction(20), 60: Fraction(50, 3)}
MIN_PHASES = 16  # distinct phases of the cycle: RMS of harmonics up to the 7th holds
MAX_RMS_BIAS = 0.025  # worst-case relative RMS error of a pure sine, any phase
LINE_USE = 0.8  # of the line rate that analog reports may take


def check_sampling(cfg: GenericConfig, baud: int = DEFAULT_BAUD) -> None:
    """Refuse a sampling interval that aliases with the mains or overloads the line.

    The window's N samples, taken every T = ``cfg.sampling_ms``, must fall on at least
    :data:`MIN_PHASES` distinct phases of both the 50 Hz and the 60 Hz cycle, and weigh
    them evenly: the mean square of sin(2π f t + φ) over the samples is
    ½ − ½ Re(e^{2iφ} · mean_k e^{4iπ f k T}), and the Dirichlet sum
    |sin(2π N fT) / (N sin(2π fT))| bounds its relative error for every φ. This refuses
    every multiple of 20 ms and of 16.7 ms (one phase), their divisors (2 to 10 phases;
    1 ms also overloads the line), and near-multiples whose phase drifts too slowly to
    sweep whole cycles in a window (17 ms at 60 Hz).
    """
    t_ms = cfg.sampling_ms
    if not isinstance(t_ms, int) or not 1 <= t_ms <= 16383:
        raise ConfigError(f"generic sampling_ms must be an integer 1-16383 (got {t_ms!r})")
    load = 2 * 3 * 1000 / t_ms
    if load > LINE_USE * baud / 10:
        raise ConfigError(
            f"generic sampling_ms = {t_ms}: two analog channels need {load:.0f} bytes/s, "
            f"more than {LINE_USE:.0%} of what {baud} baud carries; use 19 ms or more"
        )
    n = max(1, int(cfg.window_s * 1000 // t_ms))
    for hz, period in MAINS_PERIODS_MS.items():
        phases = {k * t_ms % period for k in range(min(n, 64))}
        x = float(Fraction(t_ms) / period)  # cycles per sample
        den = n * math.sin(2 * math.pi * x)
        dirichlet = 1.0 if abs(den) < 1e-9 else abs(math.sin(2 * math.pi * n * x) / den)
        bias = 0.5 * dirichlet  # relative RMS error: half the mean-square one
        if len(phases) < MIN_PHASES or bias > MAX_RMS_BIAS:
            raise ConfigError(
                f"generic sampling_ms = {t_ms} aliases with {hz} Hz mains (period "
                f"{float(period):.1f} ms): in a {cfg.window_s} s window its samples fall on "
                f"{len(phases)} phases of the cycle and may misread the RMS by up to "
                f"{bias:.0%}. Pick an interval that sweeps the cycle, e.g. 19 or 23 ms "
                "(not a multiple or divisor of 20 ms or 16.7 ms)."
            )


class GenericFirmataMeter:
    """A :class:`Meter` over StandardFirmata analog reports (host-side estimates)."""

    def __init__(
        self,
        link: FirmataLink,
        meter_id: str,
        cfg: GenericConfig,
        *,
        timeout_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        check_sampling(cfg)
        self.link = link
        self.url = link.url
        self.meter_id = meter_id
        self.cfg = cfg
        self._timeout_s = timeout_s
        self._clock = clock
        self._v: deque[tuple[float, int]] = deque()
        self._i: deque[tuple[float, int]] = deque()
        self._v_per_count = cfg.v_per_count
        self._a_per_count = cfg.a_per_count
        self._relay = True
        self._seq = 0
        self._import_wh = 0.0
        self._export_wh = 0.0
        self._last: tuple[float, float] | None = None
        self._stream_s = 0.0
        self._next_t = math.inf
        self._identity: Identity | None = None

    @classmethod
    def open(
        cls,
        url: str,
        meter_id: str,
        cfg: GenericConfig,
        *,
        baud: int = DEFAULT_BAUD,
        reset_wait_s: float = 0.0,
        backend: str = "native",
        clock: Callable[[], float] = time.monotonic,
    ) -> GenericFirmataMeter:
        """Open the board, query its firmware, start analog reporting on the sensor pins."""
        link = open_link(url, baud=baud, reset_wait_s=reset_wait_s, backend=backend)
        return handshake_or_close(link, cls(link, meter_id, cfg, clock=clock))

    def handshake(self) -> Identity:
        """Firmata version and firmware name, then sampling interval and reporting."""
        self.link.send(bytes((fm.REPORT_VERSION,)))
        self.link.send(fm.sysex(fm.REPORT_FIRMWARE))
        version: tuple[int, int] | None = None
        firmware: tuple[str, tuple[int, int]] | None = None
        deadline = time.monotonic() + self._timeout_s
        while (version is None or firmware is None) and time.monotonic() < deadline:
            for msg in self.link.receive(0.05):
                if isinstance(msg, fm.Version):
                    version = (msg.major, msg.minor)
                elif isinstance(msg, fm.Sysex) and msg.command == fm.REPORT_FIRMWARE:
                    firmware = decode_firmware(msg.payload)
        if version is None or firmware is None:
            raise DeviceError(
                f"board on {self.url} does not answer Firmata version/firmware queries; "
                "flash StandardFirmata (Arduino IDE: Examples → Firmata) at 57600 baud"
            )
        name, (major, minor) = firmware
        self._identity = Identity(
            self.meter_id, name, (major, minor, 0), (0, 0), version, 0, False, True
        )
        c = self.cfg
        self.link.send(fm.sysex(fm.SAMPLING_INTERVAL, pack_uint(c.sampling_ms, 14)))
        for pin in {c.voltage_pin, c.current_pin}:
            self.link.send(bytes((fm.REPORT_ANALOG | pin, 1)))
        if c.relay_pin is not None:
            self.link.send(bytes((fm.SET_PIN_MODE, c.relay_pin, OUTPUT)))
            self._write_relay(True)
        return self._identity

    def identity(self, *, refresh: bool = False) -> Identity:
        """Identity from the config's meter id and the board's firmware report."""
        assert self._identity is not None
        return self._identity

    def read(self) -> Reading:
        """Wait for a window of samples and return an estimated reading."""
        deadline = time.monotonic() + self._timeout_s
        while time.monotonic() < deadline:
            self._pump(0.05)
            if self._window_full():
                return self._reading()
        raise TransportError(
            f"board on {self.url} sent too few analog samples within {self._timeout_s} s; "
            "check the sensor pins in [meters.generic] and that the link is not stalled"
        )

    def start_stream(self, interval_s: float) -> None:
        """Produce a reading every ``interval_s`` from the running sample window."""
        self._stream_s = interval_s
        self._next_t = time.monotonic() + interval_s

    def stop_stream(self) -> None:
        """Stop producing streamed readings."""
        self._stream_s, self._next_t = 0.0, math.inf

    def next_readings(self, timeout_s: float) -> list[Reading]:
        """A reading when the stream interval has passed and the window is full."""
        self._pump(timeout_s)
        now = time.monotonic()
        if now < self._next_t or not self._window_full():
            return []
        self._next_t = max(self._next_t + self._stream_s, now)
        return [self._reading()]

    def set_relay(self, closed: bool) -> None:
        """Drive the relay pin (plain digital write, no authentication)."""
        if self.cfg.relay_pin is None:
            raise DeviceError(f"meter {self.meter_id} has no relay_pin in [meters.generic]")
        self._write_relay(closed)

    def calibration(self) -> Calibration:
        """The host-side scale factors, expressed as a meter calibration."""
        c = self.cfg
        return Calibration(
            round(self._v_per_count * 1e6),
            round(self._a_per_count * 1e6),
            round(c.v_offset_counts),
            round(c.i_offset_counts),
            0,
        )

    def set_calibration(self, cal: Calibration) -> None:
        """Change the host-side scale factors (kept for this connection only)."""
        self._v_per_count = cal.v_gain_uv_per_count / 1e6
        self._a_per_count = cal.i_gain_ua_per_count / 1e6

    def close(self) -> None:
        """Stop reporting and close the link; idempotent."""
        try:
            for pin in {self.cfg.voltage_pin, self.cfg.current_pin}:
                self.link.send(bytes((fm.REPORT_ANALOG | pin, 0)))
        except TransportError:
            pass
        self.link.close()

    def __enter__(self) -> GenericFirmataMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write_relay(self, closed: bool) -> None:
        assert self.cfg.relay_pin is not None
        self.link.send(bytes((fm.SET_DIGITAL_PIN_VALUE, self.cfg.relay_pin, int(closed))))
        self._relay = closed

    def _pump(self, timeout_s: float) -> None:
        now = time.monotonic()
        for msg in self.link.receive(timeout_s):
            if isinstance(msg, fm.Analog):
                if msg.channel == self.cfg.voltage_pin:
                    self._v.append((now, msg.value))
                if msg.channel == self.cfg.current_pin:
                    self._i.append((now, msg.value))
        horizon = now - self.cfg.window_s
        for q in (self._v, self._i):
            while q and q[0][0] < horizon:
                q.popleft()

    def _window_full(self) -> bool:
        need = max(4, int(0.8 * self.cfg.window_s * 1000 / max(1, self.cfg.sampling_ms)))
        return len(self._v) >= need and len(self._i) >= need

    @staticmethod
    def _rms(samples: deque[tuple[float, int]], offset: float) -> float:
        return math.sqrt(sum((v - offset) ** 2 for _, v in samples) / len(samples))

    def _reading(self) -> Reading:
        c = self.cfg
        v = self._rms(self._v, c.v_offset_counts) * self._v_per_count
        i = self._rms(self._i, c.i_offset_counts) * self._a_per_count if self._relay else 0.0
        sign = 1.0 if c.direction == "import" else -1.0
        p = sign * v * i * c.power_factor
        t = self._clock()
        if self._last is not None:
            t0, p0 = self._last
            wh = (p0 + p) / 2 * (t - t0) / 3600
            if wh > 0:
                self._import_wh += wh
            else:
                self._export_wh -= wh
        self._last = (t, p)
        self._seq += 1
        return Reading(
            meter_id=self.meter_id,
            t_s=t,
            voltage_v=v,
            current_a=i,
            power_w=p,
            power_factor=sign * c.power_factor if i else 0.0,
            frequency_hz=0.0,
            energy_import_wh=self._import_wh,
            energy_export_wh=self._export_wh,
            relay_closed=self._relay,
            seq=self._seq,
            boot_count=0,
        )
