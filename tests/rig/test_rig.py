"""The rig starts what a bench config needs and opens every meter by its kind."""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from bench.attestation import SignedCounters
from bench.config import BenchConfig, MeterConfig, parse_bench_config
from bench.devices import FirmataMeter, Reading
from bench.emulator import EmulatedMeter, MeterFarm
from bench.errors import ConfigError, ToolMissingError
from bench.rig import Capability, Rig, registered_kinds

C = Capability


def _readings(rig: Rig, meter_id: str, n: int = 5, timeout_s: float = 10.0) -> list[Reading]:
    out: queue.Queue[Any] = queue.Queue()
    got: list[Reading] = []
    with rig.poller(meter_id, out):
        deadline = time.monotonic() + timeout_s
        while len(got) < n and time.monotonic() < deadline:
            try:
                item = out.get(timeout=0.1)
            except queue.Empty:
                continue
            if isinstance(item, Reading):
                got.append(item)
    assert len(got) == n, f"meter {meter_id} sent {len(got)} of {n} readings"
    return got


def _farm_running() -> bool:
    return any(t.name == "meter-farm" for t in threading.enumerate())


@pytest.fixture
def board() -> Iterator[EmulatedMeter]:
    """A stand-in for a real board on a serial port: an emulated meter the test starts."""
    with MeterFarm() as farm:
        yield farm.add(EmulatedMeter("lab-1", power_w=700.0))


def test_the_five_kinds_are_registered_with_their_capabilities() -> None:
    assert set(registered_kinds()) >= {"firmata", "generic", "emulated", "simavr", "fake"}
    bench = parse_bench_config(
        {
            "meters": [
                {"id": "b", "port": "/dev/ttyACM0"},
                {"id": "g", "port": "/dev/ttyUSB0", "generic": {"relay_pin": 8}},
                {"id": "g2", "kind": "generic", "port": "/dev/ttyUSB1"},
                {"id": "e"},
                {"id": "s", "kind": "simavr"},
                {"id": "f", "kind": "fake"},
            ]
        }
    )
    rig = Rig(bench)
    caps = {m.meter_id: rig.capabilities(m.meter_id) for m in bench.meters}
    assert {m.meter_id: m.kind for m in bench.meters} == {
        "b": "firmata",  # inferred: a port and no [meters.generic]
        "g": "generic",
        "g2": "generic",
        "e": "emulated",
        "s": "simavr",
        "f": "fake",
    }
    assert caps == {
        "b": {C.RELAY, C.SIGNING, C.CALIBRATION},
        "g": {C.RELAY},
        "g2": set(),  # no relay_pin: nothing to switch
        "e": {C.RELAY, C.SIGNING, C.CALIBRATION, C.LOAD_CONTROL},
        "s": {C.RELAY, C.SIGNING, C.CALIBRATION, C.LOAD_CONTROL},
        "f": {C.RELAY, C.CALIBRATION, C.LOAD_CONTROL},
    }


def test_fake_meters_need_no_farm_and_follow_their_load() -> None:
    bench = parse_bench_config(
        {"meters": [{"id": "f1", "kind": "fake", "power_w": 1800.0}, {"id": "e1"}]}
    )
    assert not _farm_running()
    with Rig(
        bench,
        ["f1"],
        sim_now_s=lambda: 3600.0 * time.monotonic(),
        real_time_of=lambda sim_s: sim_s / 3600.0,
    ) as rig:
        assert not _farm_running()  # no emulated meter in use: no farm
        with pytest.raises(ConfigError, match="not started"):
            rig.url("e1")
        first, *_, last = _readings(rig, "f1")
        assert last.power_w == pytest.approx(1800.0)
        load = rig.load_control("f1")
        assert load is not None
        load.scale(0.5)
        (after,) = _readings(rig, "f1", n=1)
    assert after.power_w == pytest.approx(900.0)
    # energy integrates on the simulated clock (3600x), stamps stay on the host's
    sim_hours = last.t_s - first.t_s  # one simulated hour per real second
    assert last.energy_import_wh - first.energy_import_wh == pytest.approx(
        1800 * sim_hours, rel=0.05
    )
    assert abs(last.t_s - time.monotonic()) < 60


def test_a_rig_on_a_simulated_clock_needs_its_inverse() -> None:
    """A fake stamps each reading with the host instant of its energy, found through the
    inverse (the host's time at the read is a preemption away from it)."""
    bench = parse_bench_config({"meters": [{"id": "f1", "kind": "fake"}]})
    with pytest.raises(TypeError, match="together"):
        Rig(bench, sim_now_s=lambda: 3600.0 * time.monotonic())
    with pytest.raises(TypeError, match="together"):
        Rig(bench, real_time_of=lambda sim_s: sim_s / 3600.0)


def test_emulated_meters_run_in_a_farm_only_while_the_rig_runs() -> None:
    bench = parse_bench_config({"meters": [{"id": "e1", "power_w": 400.0}], "bench": {}})
    with Rig(bench) as rig:
        assert _farm_running()
        (r,) = _readings(rig, "e1", n=1)
        assert r.meter_id == "e1" and r.power_w == pytest.approx(400.0, rel=0.01)
    assert not _farm_running()


def test_a_real_board_has_no_load_control(board: EmulatedMeter) -> None:
    config = MeterConfig("lab-1", kind="firmata", port=board.port, allow_default_key=True)
    bench = BenchConfig(meters=(config, MeterConfig("feeder", kind="fake")), reset_wait_s=0.0)
    with Rig(bench) as rig:
        assert rig.load_control("lab-1") is None
        assert C.LOAD_CONTROL not in rig.capabilities("lab-1")
        (r,) = _readings(rig, "lab-1", n=1)
        assert r.power_w == pytest.approx(700.0, rel=0.01)
        # a feeder computed from the loads cannot follow a real load: said, not guessed
        with pytest.raises(ConfigError, match="lab-1 have no load control"):
            rig.drive_feeder("feeder", ["lab-1"], loss_fraction=0.0, unmetered_load_w=0.0)


def test_the_feeder_follows_the_loads_through_their_load_control() -> None:
    bench = parse_bench_config(
        {
            "meters": [
                {"id": "roof", "kind": "fake", "power_w": -5000.0},
                {"id": "flat", "kind": "fake", "power_w": 2000.0},
                {"id": "feeder", "kind": "fake"},
            ]
        }
    )
    with Rig(bench) as rig:
        feeder = rig.drive_feeder(
            "feeder", ["roof", "flat"], loss_fraction=0.1, unmetered_load_w=500.0
        )
        assert feeder is not None
        # F = imports + theft - exports + 10 % of (exports + F): (2000 + 500 - 4500) / 0.9
        expected_w = (2000.0 + 500.0 - 5000.0 + 0.1 * 5000.0) / 0.9
        assert feeder.update() == pytest.approx(expected_w)
        (r,) = _readings(rig, "feeder", n=1)
        assert r.power_w == pytest.approx(expected_w)
        flat = rig.opener("flat")()
        flat.set_relay(False)  # the flat is disconnected: its load stops counting
        assert feeder.update() == pytest.approx((500.0 - 5000.0 + 0.1 * 5000.0) / 0.9)


@pytest.mark.firmware
def test_a_bench_config_can_choose_simavr_and_fake_meters() -> None:
    bench = parse_bench_config(
        {
            "meters": [
                {"id": "fw-1", "kind": "simavr", "power_w": 2300.0},
                {"id": "fake-1", "kind": "fake", "power_w": -300.0},
            ]
        }
    )
    try:
        rig = Rig(bench).__enter__()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    try:
        assert not _farm_running()
        # the first windows after boot are partial (0, then ~1,480 W); each is reported twice
        fw = _readings(rig, "fw-1", n=6, timeout_s=20.0)
        assert {r.meter_id for r in fw} == {"fw-1"}  # renamed to its configured id
        assert fw[-1].power_w == pytest.approx(2300.0, rel=0.02)
        (fake,) = _readings(rig, "fake-1", n=1)
        assert fake.power_w == pytest.approx(-300.0)
    finally:
        rig.__exit__(None, None, None)


def test_simavr_refuses_a_clock_it_cannot_keep() -> None:
    bench = parse_bench_config({"meters": [{"id": "fw-1", "kind": "simavr"}]})
    with pytest.raises(ConfigError, match="speed"), Rig(bench, speed=1800.0):
        pass


@pytest.mark.parametrize("kind", ["emulated", pytest.param("simavr", marks=pytest.mark.firmware)])
def test_the_rigs_own_meters_come_back_from_the_memory_the_run_kept(
    kind: str, tmp_path: Path
) -> None:
    # a bench restarted on the same run folder finds its own meters as it left them:
    # counters never below what they reported, the same signing key, no seq signed twice
    bench = parse_bench_config({"meters": [{"id": "kept-1", "kind": kind, "power_w": 2300.0}]})
    memory = tmp_path / "meters"
    seen: list[tuple[Reading, SignedCounters, str]] = []
    for _ in range(2):
        try:
            rig = Rig(bench, memory_dir=memory).__enter__()
        except ToolMissingError as exc:
            pytest.skip(str(exc))
        try:
            restored = not rig.counts_from_zero("kept-1")
            reading = _readings(rig, "kept-1", n=3, timeout_s=20.0)[-1]
            with FirmataMeter.open(rig.url("kept-1"), timeout_s=5.0) as driver:
                if not restored:  # commissioned: its key made (the firmware makes it lazily)
                    driver.new_signing_key(timeout_s=60.0)
                seen.append((reading, driver.signed_reading(), driver.signer_address()))
        finally:
            rig.__exit__(None, None, None)
        assert restored is (len(seen) == 2)
    (first, first_signed, first_signer), (back, back_signed, back_signer) = seen
    assert {p.stat().st_mode & 0o077 for p in memory.iterdir()} == {0}  # private: keys
    assert back_signer == first_signer
    assert back_signed.seq > first_signed.seq and back_signed.time_s >= first_signed.time_s
    assert back_signed.import_wh >= first_signed.import_wh
    assert back.energy_import_wh >= first.energy_import_wh > 0
