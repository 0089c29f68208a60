"""The seeded cloud process and the per-config cache of generated PV days."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from bench.config import PvArrayConfig, SiteConfig
from bench.profiles.cache import cache_key, cached
from bench.profiles.clouds import cloud_cover, cloudy_ghi

DATE = dt.date(2026, 7, 20)


def test_the_same_seed_and_date_draw_the_same_clouds_and_others_differ() -> None:
    a = cloud_cover(DATE, 289, 300.0, mean=0.6, timescale_s=3600.0, seed=7)
    b = cloud_cover(DATE, 289, 300.0, mean=0.6, timescale_s=3600.0, seed=7)
    c = cloud_cover(DATE, 289, 300.0, mean=0.6, timescale_s=3600.0, seed=8)
    d = cloud_cover(DATE + dt.timedelta(days=1), 289, 300.0, mean=0.6, timescale_s=3600.0, seed=7)
    assert np.array_equal(a, b)
    assert not np.allclose(a, c) and not np.allclose(a, d)
    assert np.all((a >= 0) & (a <= 1))


@pytest.mark.parametrize("mean", [0.1, 0.5, 0.8])
def test_the_cover_averages_the_configured_mean(mean: float) -> None:
    days = [
        cloud_cover(DATE + dt.timedelta(days=k), 97, 900.0, mean=mean, timescale_s=3600.0, seed=1)
        for k in range(300)
    ]
    # 300 days × ~24 independent hours: the standard error is well below 0.01
    assert float(np.mean(days)) == pytest.approx(mean, abs=0.02)


def test_kasten_czeplak_at_clear_overcast_and_half_cover() -> None:
    clear = np.array([1000.0, 1000.0, 1000.0])
    got = cloudy_ghi(clear, np.array([0.0, 1.0, 0.5]))
    assert got == pytest.approx([1000.0, 250.0, 1000.0 * (1 - 0.75 * 0.5**3.4)])


def test_a_generated_day_is_cached_and_read_back(profile_cache: Path) -> None:
    key = cache_key(PvArrayConfig("roof", kwp=3.0), SiteConfig(), DATE)
    first = cached(key, lambda: np.arange(5.0))
    assert (profile_cache / f"{key}.npy").is_file()

    def must_not_run() -> np.ndarray:
        raise AssertionError("the cached day was generated again")

    assert np.array_equal(cached(key, must_not_run), first)


def test_the_cache_key_follows_every_input_but_the_meter_and_start_date() -> None:
    array, site = PvArrayConfig("roof", kwp=3.0), SiteConfig()
    key = cache_key(array, site, DATE)
    assert cache_key(replace(array, meter_id="other"), site, DATE) == key
    assert cache_key(array, replace(site, start_date=dt.date(2020, 1, 1)), DATE) == key
    assert cache_key(replace(array, tilt_deg=30.0), site, DATE) != key
    assert cache_key(array, replace(site, cloud_seed=1), DATE) != key
    assert cache_key(array, site, DATE + dt.timedelta(days=1)) != key


def test_writers_of_the_same_day_at_once_all_get_it(
    profile_cache: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Eight writers (meters with the same array) save the same day, and every one has
    written before any moves its file into place: the worst interleaving, every time."""
    key = cache_key(PvArrayConfig("roof", kwp=3.0), SiteConfig(), DATE)
    written = threading.Barrier(8, timeout=30)
    save = np.save

    def save_then_wait(fh: object, values: np.ndarray) -> None:
        save(fh, values)
        written.wait()

    monkeypatch.setattr(np, "save", save_then_wait)
    got: list[np.ndarray] = []
    errors: list[BaseException] = []

    def write() -> None:
        try:
            got.append(cached(key, lambda: np.arange(1000.0)))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=write) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(got) == 8 and all(np.array_equal(g, np.arange(1000.0)) for g in got)
    assert [p.name for p in profile_cache.iterdir()] == [f"{key}.npy"]  # no temp file left
    assert np.array_equal(np.load(profile_cache / f"{key}.npy"), np.arange(1000.0))
