"""PROTOCOL.md §12, row by row: the firmware in simavr against the table's bounds.

The table is read from PROTOCOL.md itself (the document is the contract), each row
checked at its lower edge and inside it, at 50 Hz / 230 V and 60 Hz / 120 V; the clipping
edge on both sides (17.5 A in range, 18 A clipped). The truth is the injected sine: power
V·I, energy V·I over the simulated seconds between the two readings' requests.
"""

from __future__ import annotations

import itertools
import re
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.devices.firmata_meter import FirmataMeter
from bench.devices.reading import Reading
from bench.firmware import SimMeter, Waveform

pytestmark = [pytest.mark.firmware, pytest.mark.slow]

PROTOCOL = Path(__file__).resolve().parents[2] / "firmware" / "PROTOCOL.md"
ENERGY_WINDOW_S = 30.0  # simulated
COUNTER_STEP_WH = 0.001  # the counters' resolution, at each end of the window
CLIP_EDGE = (17.5, 18.0)  # in range, clipped
MAINS = ((50.0, 230.0), (60.0, 120.0))


@dataclass(frozen=True)
class Row:
    from_a: float
    below_a: float
    bound: float  # fraction


def table_rows() -> list[Row]:
    text = PROTOCOL.read_text()
    block = text.split("<!-- accuracy-table -->", 1)[1]
    rows = re.findall(r"^\| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|", block, re.M)
    return [Row(float(a), float(b), float(c) / 100) for a, b, c in rows]


def currents() -> dict[float, Row | None]:
    """Each row's lower edge and its geometric middle (the top row: just inside the
    clipping edge too); then the clipped current, in no row."""
    out: dict[float, Row | None] = {}
    for row in table_rows():
        out[row.from_a] = row
        out[round((row.from_a * row.below_a) ** 0.5, 2)] = row
    top = max(table_rows(), key=lambda r: r.below_a)
    out[CLIP_EDGE[0]] = top
    out[CLIP_EDGE[1]] = None
    return out


@dataclass
class Run:
    readings: list[Reading]
    energy_wh: float
    seconds: float


def measure(
    elf: Path, runner: Path, freq: float, volts: float, amps: list[float]
) -> dict[float, Run]:
    sims = {a: SimMeter(speed=0, elf=elf, runner=runner) for a in amps}
    meters: dict[float, FirmataMeter] = {}
    try:
        for a, sim in sims.items():
            sim.set_waveform(Waveform(v_rms=volts, i_rms=a, freq=freq))
            meters[a] = FirmataMeter.open(sim.pty_path, timeout_s=5.0)
        while min(s.sim_time() for s in sims.values()) < 2.0:  # readings valid, windows full
            time.sleep(0.05)
        start = {a: (m.read(), sims[a].last_rx_time()) for a, m in meters.items()}
        readings: dict[float, list[Reading]] = {a: [] for a in amps}
        while min(sims[a].sim_time() - start[a][1] for a in amps) < ENERGY_WINDOW_S:
            for a, m in meters.items():
                readings[a].append(m.read())
            time.sleep(0.3)
        time.sleep(0.3)
        out = {}
        for a, m in meters.items():
            r1, t1 = m.read(), sims[a].last_rx_time()
            r0, t0 = start[a]
            out[a] = Run(readings[a], r1.energy_import_wh - r0.energy_import_wh, t1 - t0)
        return out
    finally:
        for m in meters.values():
            m.close()
        for s in sims.values():
            s.close()


@pytest.fixture(scope="module", params=MAINS, ids=lambda m: f"{m[0]:.0f}Hz-{m[1]:.0f}V")
def mains_run(
    request: pytest.FixtureRequest, firmware_images: tuple[Path, Path]
) -> tuple[float, float, dict[float, Run]]:
    freq, volts = request.param
    elf, runner = firmware_images
    return freq, volts, measure(elf, runner, freq, volts, sorted(currents()))


def test_the_table_covers_one_amp_up_to_the_clipping_edge() -> None:
    rows = sorted(table_rows(), key=lambda r: r.from_a)
    assert rows[0].from_a == 0.1 and rows[-1].bound == 0.005
    assert all(a.below_a == b.from_a for a, b in itertools.pairwise(rows))
    assert rows[-1].below_a > CLIP_EDGE[0] and rows[-1].below_a < CLIP_EDGE[1]


def test_each_row_holds_for_readings_and_energy(
    mains_run: tuple[float, float, dict[float, Run]],
) -> None:
    freq, volts, runs = mains_run
    failures = []
    for amps, row in currents().items():
        if row is None:
            continue
        run, power_w = runs[amps], volts * amps
        assert len(run.readings) >= 10 and run.seconds >= ENERGY_WINDOW_S
        for r in run.readings:
            assert r.valid and not r.clipped, r
            for got, true in ((r.current_a, amps), (r.power_w, power_w)):
                if abs(got - true) > row.bound * true:
                    failures.append(f"{amps} A: read {got} for {true} (row {row})")
            assert abs(r.frequency_hz - freq) <= 0.05
        true_wh = power_w * run.seconds / 3600
        if abs(run.energy_wh - true_wh) > row.bound * true_wh + 2 * COUNTER_STEP_WH:
            failures.append(f"{amps} A: energy {run.energy_wh:.4f} Wh for {true_wh:.4f} Wh")
    assert not failures, failures


def test_beyond_the_edge_every_reading_is_clipped_and_not_valid(
    mains_run: tuple[float, float, dict[float, Run]],
) -> None:
    _, _volts, runs = mains_run
    clipped = runs[CLIP_EDGE[1]]
    assert all(r.clipped and not r.valid for r in clipped.readings), [
        (r.current_a, r.voltage_v, r.clipped, r.valid) for r in clipped.readings
    ]
    assert all(r.current_a < CLIP_EDGE[1] for r in clipped.readings)  # it reads low
    assert not any(r.clipped for r in runs[CLIP_EDGE[0]].readings)
