"""Link faults at random instants (``--fault reboot_every_s=…``): each meter's faults are
a Poisson process of their own, fired through the meters' handles."""

from __future__ import annotations

import io
import itertools
import math

import pytest

from bench.cli.emulate import _faults
from bench.config import Faults
from bench.emulator.link_faults import LinkFaults, LinkFaultScheduler
from bench.errors import ConfigError


class FakeMeter:
    """Records the handles the scheduler turns, at the fake clock's instant."""

    def __init__(self, meter_id: str, clock: list[float]) -> None:
        self.meter_id = meter_id
        self.clock = clock
        self.calls: list[tuple[float, str, float | None]] = []

    def reboot(self) -> None:
        self.calls.append((self.clock[0], "reboot", None))

    def unplug(self, down_s: float | None = None) -> None:
        self.calls.append((self.clock[0], "unplug", down_s))

    def stall(self, seconds: float) -> None:
        self.calls.append((self.clock[0], "stall", seconds))


def _run(faults: LinkFaults, meters: int, horizon_s: float, seed: int = 1) -> list[FakeMeter]:
    clock = [0.0]
    fakes = [FakeMeter(f"m{i}", clock) for i in range(meters)]
    sched = LinkFaultScheduler(fakes, faults, seed=seed, quiet=True, clock=lambda: clock[0])
    while clock[0] < horizon_s:
        clock[0] = min(sched.next_at(), horizon_s)
        sched.fire_due(clock[0])
    return fakes


def test_each_kind_fires_at_its_rate_over_a_long_run() -> None:
    # a renewal process: a fault is not due again before the last is over, so the mean
    # gap is every_s + its duration; over T the count is T / gap within a few sigma
    faults = LinkFaults(
        reboot_every_s=50.0, unplug_every_s=100.0, unplug_s=25.0, stall_every_s=20.0, stall_s=5.0
    )
    horizon = 200_000.0
    fakes = _run(faults, meters=3, horizon_s=horizon)
    for kind, gap in (("reboot", 50.0), ("unplug", 125.0), ("stall", 25.0)):
        for f in fakes:
            n = sum(1 for c in f.calls if c[1] == kind)
            expected = horizon / gap
            # the count of a renewal process with exponential+constant gaps: variance
            # T * var(gap) / mean(gap)^3, var = every^2
            every = gap - {"unplug": 25.0, "stall": 5.0}.get(kind, 0.0)
            sigma = math.sqrt(horizon * every**2 / gap**3)
            assert abs(n - expected) < 5 * sigma, (kind, f.meter_id, n, expected)


def test_unplugs_and_stalls_carry_their_duration_and_never_overlap() -> None:
    faults = LinkFaults(unplug_every_s=10.0, unplug_s=4.0, stall_every_s=10.0, stall_s=2.0)
    (fake,) = _run(faults, meters=1, horizon_s=5_000.0)
    for kind, length in (("unplug", 4.0), ("stall", 2.0)):
        times = [t for t, k, d in fake.calls if k == kind]
        assert len(times) > 100
        assert all(d == length for _, k, d in fake.calls if k == kind)
        assert all(b - a >= length for a, b in itertools.pairwise(times))


def test_meters_fail_independently_and_a_seed_repeats_a_run() -> None:
    faults = LinkFaults(reboot_every_s=30.0)
    a = _run(faults, meters=2, horizon_s=1_000.0, seed=7)
    b = _run(faults, meters=2, horizon_s=1_000.0, seed=7)
    assert [f.calls for f in a] == [f.calls for f in b]
    assert a[0].calls[0][0] != a[1].calls[0][0]  # not in lock-step
    assert _run(LinkFaults(), meters=2, horizon_s=1_000.0)[0].calls == []


def test_every_fault_is_logged() -> None:
    clock = [0.0]
    fake = FakeMeter("m-1", clock)
    log = io.StringIO()
    sched = LinkFaultScheduler(
        [fake], LinkFaults(unplug_every_s=1.0, unplug_s=0.5), log=log, clock=lambda: clock[0]
    )
    clock[0] = 100.0
    fired = sched.fire_due(clock[0])
    assert fired and all(f == ("m-1", "unplug") for f in fired)
    assert log.getvalue().splitlines()[0] == "fault: m-1 unplug for 0.5 s"
    assert sched.counts["unplug"] == len(fired) == len(log.getvalue().splitlines())


def test_the_cli_splits_rate_faults_from_link_faults() -> None:
    rate, link = _faults(["drop_rate=0.1", "unplug_every_s=30", "unplug_s=2", "stall_s=1"])
    assert rate == Faults(drop_rate=0.1)
    assert link == LinkFaults(unplug_every_s=30.0, unplug_s=2.0, stall_s=1.0)
    assert link.any and not LinkFaults(stall_s=1).any
    with pytest.raises(ConfigError, match="finite number ≥ 0"):
        _faults(["reboot_every_s=-1"])
    with pytest.raises(ConfigError, match="must be > 0"):
        _faults(["unplug_s=0"])
    with pytest.raises(ConfigError, match="not a number"):
        _faults(["stall_every_s=often"])
