"""Firmware meters in simavr: one runner process per meter, its UART on a pty.

The bench talks to a :class:`SimMeter` through ``pty_path`` with the same driver as a real
board, and sets the injected mains waveform over the runner's control channel (stdin and
stdout lines, see ``firmware/sim/meter_sim.c``).
"""

from __future__ import annotations

import math
import queue
import subprocess
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from bench.builds import locate
from bench.devices.firmata_meter import FirmataMeter
from bench.errors import TransportError
from bench.firmware.build import build_firmware, build_runner


@dataclass(frozen=True)
class Waveform:
    """Mains seen by the meter's front end; current harmonics as fractions of the fundamental."""

    v_rms: float = 230.0
    i_rms: float = 0.0
    phase_deg: float = 0.0  # current lags voltage by this angle
    freq: float = 50.0
    h3: float = 0.0
    h5: float = 0.0
    h7: float = 0.0
    v_h3: float = 0.0


class SimMeter:
    """One firmware meter running in simavr."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        eeprom: Path | None = None,
        elf: Path | None = None,
        runner: Path | None = None,
        start_timeout_s: float = 10.0,
    ) -> None:
        elf = elf or locate("firmware", build=lambda: build_firmware("uno"))
        runner = runner or build_runner()
        cmd = [str(runner), "--speed", str(speed)]
        if eeprom is not None:
            cmd += ["--eeprom", str(eeprom)]
        self._proc = subprocess.Popen(
            [*cmd, str(elf)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            bufsize=1,
        )
        self._replies: queue.Queue[str] = queue.Queue()
        self._lock = threading.Lock()
        self.relay_events: list[tuple[float, bool]] = []  # (simulated s, closed)
        self._powers: list[tuple[float, float]] = [(0.0, 0.0)]  # (simulated s, true W)
        self._pty: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read_events, daemon=True)
        self._reader.start()
        try:
            self.pty_path = self._pty.get(timeout=start_timeout_s)
        except queue.Empty:
            self.close()
            raise TransportError(
                f"the simavr runner did not start within {start_timeout_s} s: run "
                "`make -C firmware sim build` and try `firmware/build/sim/meter_sim` by hand"
            ) from None

    @property
    def url(self) -> str:
        """The pyserial URL of the meter's UART (its pseudo-terminal)."""
        return self.pty_path

    def _read_events(self) -> None:
        assert self._proc.stdout is not None
        for line in self._proc.stdout:
            if not line.startswith("@ "):
                continue  # simavr's own chatter
            body = line[2:].strip()
            if body.startswith("pty="):
                self._pty.put(body[4:])
            elif body.startswith("relay=") and " t=" in body:
                state, t = body.split(" t=")
                self.relay_events.append((float(t), state.endswith("1")))
            else:
                self._replies.put(body)

    def _command(self, line: str, timeout_s: float = 5.0) -> str:
        with self._lock:
            if self._proc.poll() is not None or self._proc.stdin is None:
                raise TransportError("the simavr runner has exited; start a new SimMeter")
            while not self._replies.empty():
                self._replies.get_nowait()
            self._proc.stdin.write(line + "\n")
            self._proc.stdin.flush()
            try:
                reply = self._replies.get(timeout=timeout_s)
            except queue.Empty:
                raise TransportError(f"the simavr runner did not answer {line!r}") from None
        if reply.startswith("error"):
            raise TransportError(f"the simavr runner refused {line!r}: {reply}")
        return reply

    def set_waveform(self, waveform: Waveform) -> float:
        """Inject these mains conditions from now on; returns the simulated time they start."""
        fields = " ".join(f"{k}={v!r}" for k, v in asdict(waveform).items())
        t = float(self._command(f"set {fields}").removeprefix("ok t="))
        self._powers.append((t, true_power_w(waveform)))
        return t

    def true_energy_wh(self) -> tuple[float, float]:
        """(import, export) Wh the injected waveforms delivered through the closed relay."""
        now = self.sim_time()
        relay = [(0.0, False), *self.relay_events]
        imp = exp = 0.0
        for i, (t0, p) in enumerate(self._powers):
            t1 = self._powers[i + 1][0] if i + 1 < len(self._powers) else now
            closed_s = _closed_seconds(relay, t0, t1)
            imp += max(p, 0.0) * closed_s / 3600
            exp += max(-p, 0.0) * closed_s / 3600
        return imp, exp

    def set_adc(self, channel: int, counts: int) -> None:
        """Raw ADC counts on a free channel (2–5)."""
        self._command(f"set adc{channel}={counts}")

    def sim_time(self) -> float:
        """Simulated seconds since the runner started."""
        return float(self._command("get time").removeprefix("time="))

    def last_rx_time(self) -> float:
        """Simulated time at which the last byte from the host reached the meter's UART:
        the instant the meter acted on the last complete request."""
        return float(self._command("get rx").removeprefix("rx="))

    def last_tx_time(self) -> float:
        """Simulated time at which the firmware last wrote a byte to its UART."""
        return float(self._command("get tx").removeprefix("tx="))

    def stack_low_bytes(self) -> tuple[int, int]:
        """(lowest stack pointer seen since start, RAMEND): the stack's deepest reach."""
        low, ramend = self._command("get stack").removeprefix("stack=").split()
        return int(low), int(ramend)

    def uart_counts(self) -> dict[str, int]:
        """Host bytes: received by the bridge, delivered to the UART, lost to a full UART
        queue, lost while the receiver was off."""
        values = self._command("get uart").removeprefix("uart=").split()
        return dict(
            zip(
                ("from_host", "delivered", "overrun", "receiver_off"), map(int, values), strict=True
            )
        )

    def idle_fraction(self) -> float:
        """Fraction of simulated CPU cycles the firmware spent asleep since the start."""
        return float(self._command("get idle").removeprefix("idle="))

    def set_speed(self, speed: float) -> None:
        """Pace at ``speed`` × real time (0: as fast as possible)."""
        self._command(f"speed {speed}")

    def reset(self) -> None:
        """Hardware reset (EEPROM kept), like pressing the board's reset button."""
        self._command("reset")

    def save_eeprom(self) -> None:
        """Write the EEPROM file now (when started with ``eeprom=``)."""
        self._command("save")

    @property
    def relay_closed(self) -> bool:
        """The relay pin right now (asked from the runner)."""
        return self._command("get relay") == "relay=1"

    def wait_relay(self, closed: bool, timeout_s: float = 5.0) -> bool:
        """Wait until the relay pin shows ``closed``; False on timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.relay_closed is closed:
                return True
            time.sleep(0.01)
        return self.relay_closed is closed

    @property
    def pid(self) -> int:
        """Process id of the runner (for CPU accounting)."""
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc.poll() is None

    def close(self) -> None:
        """Stop the runner (it saves the EEPROM file first); idempotent."""
        if self._proc.poll() is None:
            try:
                assert self._proc.stdin is not None
                self._proc.stdin.write("quit\n")
                self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> SimMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def true_power_w(w: Waveform) -> float:
    """Real power of a waveform: the fundamental plus the 3rd harmonic both carry."""
    phi = math.radians(w.phase_deg)
    return w.v_rms * w.i_rms * (math.cos(phi) + w.v_h3 * w.h3 * math.cos(3 * phi))


def _closed_seconds(relay: list[tuple[float, bool]], t0: float, t1: float) -> float:
    """Seconds within [t0, t1] during which the relay (a list of state changes) was closed."""
    total = 0.0
    for i, (start, closed) in enumerate(relay):
        end = relay[i + 1][0] if i + 1 < len(relay) else math.inf
        if closed:
            total += max(0.0, min(end, t1) - max(start, t0))
    return total


def start_sim_meters(n: int, *, speed: float = 1.0, id_prefix: str | None = None) -> list[SimMeter]:
    """Start ``n`` firmware meters; with ``id_prefix`` they are named prefix1 … prefixN
    (set with the default key, as on a fresh board). The caller closes them."""
    elf, runner = build_firmware("uno"), build_runner()
    meters: list[SimMeter] = []
    try:
        for i in range(n):
            meter = SimMeter(speed=speed, elf=elf, runner=runner)
            meters.append(meter)
            if id_prefix is not None:
                with FirmataMeter.open(meter.url, timeout_s=2.0) as driver:
                    driver.set_meter_id(f"{id_prefix}{i + 1}")
    except BaseException:
        for m in meters:
            m.close()
        raise
    return meters
