"""The scenario clock runs simulated time at a multiple of real time."""

from __future__ import annotations

import sys
import threading
import time

import pytest

from bench.errors import ConfigError
from bench.scenario.clock import SimClock


def test_accelerated_clock_runs_speed_times_faster() -> None:
    clock = SimClock(speed=3600.0, start_s=100.0)
    real0 = time.monotonic()
    sim0 = clock.now_s()
    time.sleep(0.05)
    sim1 = clock.now_s()
    real1 = time.monotonic()
    assert sim0 >= 100.0
    # Simulated elapsed is speed × real elapsed (bounded by the two real stamps).
    assert sim1 - sim0 <= 3600.0 * (real1 - real0) + 1e-6
    assert sim1 - sim0 >= 3600.0 * 0.05 * 0.99


def test_sleep_until_returns_false_when_stopped() -> None:
    clock = SimClock(speed=1.0)
    stop = threading.Event()
    stop.set()
    assert clock.sleep_until(clock.now_s() + 60.0, stop) is False


def test_sleep_until_reaches_the_target() -> None:
    clock = SimClock(speed=1000.0)
    target = clock.now_s() + 20.0
    assert clock.sleep_until(target, threading.Event()) is True
    assert clock.now_s() >= target


@pytest.mark.parametrize("speed", [0.0, -2.0])
def test_non_positive_speed_is_rejected(speed: float) -> None:
    with pytest.raises(ConfigError, match="real time"):
        SimClock(speed=speed)


def test_pause_holds_simulated_time_and_resume_continues_from_there() -> None:
    clock = SimClock(speed=3600.0, start_s=0.0)
    clock.pause()
    held = clock.now_s()
    time.sleep(0.05)
    assert clock.now_s() == held
    target = held + 360.0  # 0.1 real s after the resume
    clock.resume()
    assert clock.now_s() == pytest.approx(held, abs=3600 * 0.01)
    assert clock.real_delay_s(target) == pytest.approx(0.1, abs=0.01)


def test_the_clock_never_runs_backwards_for_other_threads() -> None:
    clock = SimClock(speed=1e6)
    done = threading.Event()
    backwards: list[tuple[float, float]] = []

    def read() -> None:
        last = clock.now_s()
        while not done.is_set():
            now = clock.now_s()
            if now < last:
                backwards.append((last, now))
            last = now

    reader = threading.Thread(target=read)
    switch_s = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as the interpreter allows
    try:
        reader.start()
        for _ in range(20_000):
            clock.pause()
            clock.resume()
    finally:
        done.set()
        reader.join()
        sys.setswitchinterval(switch_s)
    assert backwards == []


def test_a_time_before_a_pause_maps_to_the_real_time_before_it() -> None:
    clock = SimClock(speed=1000.0, start_s=0.0)
    time.sleep(0.02)
    before_s = clock.now_s()
    real_before = time.monotonic()
    clock.pause()
    time.sleep(0.05)
    clock.resume()
    # the instant the clock showed before_s lies before the pause, not 50 ms later
    assert clock.real_time_of(before_s) <= real_before + 1e-3
    after_s = clock.now_s() + 10.0
    assert clock.real_time_of(after_s) - time.monotonic() <= 0.01 + 1e-6


def test_the_instant_a_pause_holds_maps_to_the_pause_end() -> None:
    """While paused, the held instant is now (as if the clock resumed this instant);
    after the resume it is the resume's real instant, not the pause's start."""
    clock = SimClock(speed=1000.0, start_s=0.0)
    clock.pause()
    held_s = clock.now_s()
    time.sleep(0.05)
    assert clock.real_time_of(held_s) == pytest.approx(time.monotonic(), abs=5e-3)
    time.sleep(0.05)
    clock.resume()
    resumed = time.monotonic()
    assert clock.real_time_of(held_s) == pytest.approx(resumed, abs=5e-3)
    assert clock.real_time_of(held_s - 1.0) < resumed - 0.09  # before the pause: before it
