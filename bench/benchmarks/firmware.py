"""Firmware benchmark: real-time meters in simavr, flash/RAM use, worst metering error, the
time of one signature and the metering error while the meter signs."""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from bench.devices.firmata_meter import FirmataMeter
from bench.devices.reading import Reading
from bench.firmware.build import build_firmware, build_runner, firmware_size
from bench.firmware.sim import SimMeter, Waveform, true_power_w
from bench.transport.firmata import Sysex

REALTIME_RATE = 0.98  # a meter holds real time if it simulates ≥ 98 % of wall time
READING, SIGNER, SIGNED_READING = 0x02, 0x07, 0x08


@dataclass
class FirmwareBenchResult:
    meters_realtime: int
    flash_fraction: float
    ram_fraction: float
    accuracy_error_max: float
    accuracy_worst: str  # which quantity and case
    flash_bytes: int
    ram_bytes: int
    baseline_cpu_per_meter: float  # cores used by one meter at 1x, measured in this run
    load_avg_1min: float  # machine load when the run started (other work skews the count)
    rates: dict[int, float] = field(default_factory=dict)  # meters → slowest meter's rate
    sign_s: float = 0.0  # one signature, simulated seconds at 16 MHz, metering running
    reading_s: float = 0.0  # baseline: a plain READING answered, same measure
    accuracy_error_max_while_signing: float = 0.0
    accuracy_worst_while_signing: str = ""
    ram_peak_bytes: int = 0  # static data + deepest stack seen in simavr
    ram_peak_fraction: float = 0.0

    def as_dict(self) -> dict[str, object]:
        return asdict(self)


def _cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _slowest_rate(n: int, seconds: float, elf: Path, runner: Path) -> tuple[float, float]:
    """Run n meters at 1x for `seconds`, polling each once a second; (slowest rate, CPU/meter)."""
    sims = [SimMeter(speed=1.0, elf=elf, runner=runner) for _ in range(n)]
    meters: list[FirmataMeter] = []
    try:
        for s in sims:
            s.set_waveform(Waveform(i_rms=5, phase_deg=20))
            meters.append(FirmataMeter.open(s.pty_path, timeout_s=2.0))
        time.sleep(0.5)
        t0 = [(time.monotonic(), s.sim_time(), _cpu_seconds(s.pid)) for s in sims]
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            for m in meters:
                m.read()
            time.sleep(max(0.0, 1.0 - 0.01 * n))
        rates, cpus = [], []
        for s, (w0, s0, c0) in zip(sims, t0, strict=True):
            wall = time.monotonic() - w0
            rates.append((s.sim_time() - s0) / wall)
            cpus.append((_cpu_seconds(s.pid) - c0) / wall)
        return min(rates), sum(cpus) / n
    finally:
        for m in meters:
            m.close()
        for s in sims:
            s.close()


CASES = (
    Waveform(i_rms=5, phase_deg=0),
    Waveform(i_rms=5, phase_deg=math.degrees(math.acos(0.8))),
    Waveform(i_rms=5, phase_deg=60),
    Waveform(i_rms=5, h3=0.3, h5=0.1, h7=0.05),
)


def _stamped_read(meter: FirmataMeter, sim: SimMeter) -> tuple[Reading, float]:
    """A reading and the simulated time the meter took it (when the request arrived)."""
    reading = meter.read()
    return reading, sim.last_rx_time()


def _answer_s(sim: SimMeter, meter: FirmataMeter, command: int) -> float:
    """Simulated seconds from a no-payload meter sysex reaching the UART to the reply's last
    byte leaving it."""
    meter.link.send(bytes((0xF0, command, 0xF7)))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if any(isinstance(m, Sysex) and m.command == command for m in meter.link.receive(0.05)):
            return sim.last_tx_time() - sim.last_rx_time()
    raise TimeoutError(f"the simulated meter did not answer sysex {command:#04x}")


def _signing_costs(elf: Path, runner: Path, static_ram: int) -> tuple[float, float, int]:
    """(one signature, one plain reading, static RAM + deepest stack) in one simulated meter
    that meters 5 A meanwhile."""
    sim = SimMeter(speed=0, elf=elf, runner=runner)
    try:
        sim.set_waveform(Waveform(i_rms=5, phase_deg=20))
        meter = FirmataMeter.open(sim.pty_path, timeout_s=2.0)
        try:
            _answer_s(sim, meter, SIGNER)  # makes the key: not part of the signature's time
            reading_s = min(_answer_s(sim, meter, READING) for _ in range(3))
            sign_s = min(_answer_s(sim, meter, SIGNED_READING) for _ in range(2))
            meter.identity()  # and an authenticated-path-free round trip after it
        finally:
            meter.close()
        low, ramend = sim.stack_low_bytes()
        return sign_s, reading_s, static_ram + (ramend - low)
    finally:
        sim.close()


def _sign_back_to_back(meters: list[FirmataMeter], until: float) -> None:
    """Keep every meter signing until the wall-clock time ``until``: a new SIGNED_READING
    request as soon as the last one is answered; returns once all are answered."""
    outstanding = [False] * len(meters)
    while True:
        for i, m in enumerate(meters):
            if not outstanding[i] and time.monotonic() < until:
                m.link.send(bytes((0xF0, SIGNED_READING, 0xF7)))
                outstanding[i] = True
            got = m.link.receive(0.02)
            if any(isinstance(x, Sysex) and x.command == SIGNED_READING for x in got):
                outstanding[i] = False
        if not any(outstanding) and time.monotonic() >= until:
            return


def _accuracy(
    seconds: float, elf: Path, runner: Path, *, signing: bool = False
) -> tuple[float, str]:
    """Worst relative error of Vrms, Irms, P and energy over the cases, and what it was. With
    ``signing``, every meter signs back to back during the window and is read once its last
    signature is out."""
    worst, what = 0.0, ""
    sims = [SimMeter(speed=3.0, elf=elf, runner=runner) for _ in CASES]
    meters: list[FirmataMeter] = []
    try:
        for s, w in zip(sims, CASES, strict=True):
            s.set_waveform(w)
            meters.append(FirmataMeter.open(s.pty_path, timeout_s=2.0))
        time.sleep(0.7)
        if signing:  # the first request makes the key: not part of the window
            for m, s in zip(meters, sims, strict=True):
                _answer_s(s, m, SIGNER)
        start = [_stamped_read(m, s) for m, s in zip(meters, sims, strict=True)]
        end = time.monotonic() + seconds / 3.0
        if signing:
            _sign_back_to_back(meters, end)
        time.sleep(max(0.0, end - time.monotonic()))
        for (r0, t0), m, s, w in zip(start, meters, sims, CASES, strict=True):
            r1, t1 = _stamped_read(m, s)
            irms = w.i_rms * math.sqrt(1 + w.h3**2 + w.h5**2 + w.h7**2)
            p = true_power_w(w)
            energy = r1.energy_import_wh - r0.energy_import_wh
            for name, got, true in (
                ("Vrms", r1.voltage_v, w.v_rms),
                ("Irms", r1.current_a, irms),
                ("P", r1.power_w, p),
                ("energy", energy, p * (t1 - t0) / 3600),
            ):
                err = abs(got - true) / true
                if err > worst:
                    worst, what = err, f"{name} at PF {r1.power_factor:.3f}"
    finally:
        for m in meters:
            m.close()
        for s in sims:
            s.close()
    return worst, what


def run_benchmark(*, quick: bool = False) -> FirmwareBenchResult:
    """Measure everything in one run; ``quick`` uses shorter windows and fewer steps."""
    elf, runner = build_firmware("uno"), build_runner()
    size = firmware_size(elf)
    load = os.getloadavg()[0]
    seconds = 2.0 if quick else 5.0
    rate1, cpu1 = _slowest_rate(1, seconds, elf, runner)
    rates = {1: rate1}
    best = 1 if rate1 >= REALTIME_RATE else 0
    for n in (8, 16) if quick else (8, 12, 16, 20, 24, 28):
        rates[n], _ = _slowest_rate(n, seconds, elf, runner)
        if rates[n] < REALTIME_RATE:
            break
        best = n
    error, worst = _accuracy(6.0 if quick else 20.0, elf, runner)
    error_signing, worst_signing = _accuracy(9.0 if quick else 20.0, elf, runner, signing=True)
    sign_s, reading_s, ram_peak = _signing_costs(elf, runner, size.ram_bytes)
    return FirmwareBenchResult(
        meters_realtime=best,
        flash_fraction=size.flash_fraction,
        ram_fraction=size.ram_fraction,
        accuracy_error_max=error,
        accuracy_worst=worst,
        flash_bytes=size.flash_bytes,
        ram_bytes=size.ram_bytes,
        baseline_cpu_per_meter=cpu1,
        load_avg_1min=load,
        rates=rates,
        sign_s=sign_s,
        reading_s=reading_s,
        accuracy_error_max_while_signing=error_signing,
        accuracy_worst_while_signing=worst_signing,
        ram_peak_bytes=ram_peak,
        ram_peak_fraction=ram_peak / size.ram_total,
    )


def format_table(r: FirmwareBenchResult) -> str:
    """Human-readable table; rates relative to the 1-meter baseline of the same run."""
    base = r.rates.get(1, 1.0) or 1.0
    lines = [
        f"firmware: flash {r.flash_bytes} B ({r.flash_fraction:.1%} of the Uno), "
        f"RAM {r.ram_bytes} B ({r.ram_fraction:.1%})",
        f"one meter at 1x: {r.baseline_cpu_per_meter:.1%} of a core (baseline); "
        f"load average at start {r.load_avg_1min:.2f} on {os.cpu_count()} cores",
        f"{'meters':>6}  {'slowest rate':>12}  {'vs baseline':>11}  real time",
    ]
    for n, rate in r.rates.items():
        ok = "yes" if rate >= REALTIME_RATE else "no"
        lines.append(f"{n:>6}  {rate:>11.3f}x  {rate / base:>10.3f}x  {ok}")
    lines.append(f"meters holding real time: {r.meters_realtime}")
    lines.append(
        f"worst accuracy error (V, I, P, energy): {r.accuracy_error_max:.3%} ({r.accuracy_worst})"
    )
    ratio = r.accuracy_error_max_while_signing / r.accuracy_error_max if r.accuracy_error_max else 0
    lines.append(
        f"  while signing: {r.accuracy_error_max_while_signing:.3%} "
        f"({r.accuracy_worst_while_signing}), {ratio:.2f}x the error without signing"
    )
    lines.append(
        f"one signature: {r.sign_s:.3f} s simulated at 16 MHz "
        f"({r.sign_s / r.reading_s:.0f}x a plain READING's {r.reading_s * 1000:.1f} ms)"
        if r.reading_s
        else f"one signature: {r.sign_s:.3f} s"
    )
    lines.append(
        f"RAM peak (static + deepest stack in simavr): {r.ram_peak_bytes} B "
        f"({r.ram_peak_fraction:.1%}; static alone {r.ram_fraction:.1%})"
    )
    return "\n".join(lines)
