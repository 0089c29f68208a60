"""A seeded cloud process: cloud cover in [0, 1] over one day, and its effect on GHI.

The cover is ``Φ(x + μ)`` of a stationary Gaussian AR(1) ``x`` (unit variance, correlation
time ``timescale_s``); with ``μ = √2 Φ⁻¹(mean)`` its expectation is exactly ``mean``
(E[Φ(x + μ)] = Φ(μ / √2) for x ~ N(0, 1)). Each day draws from its own stream, seeded by
(seed, date), so a rerun or a single day alone gives the same clouds.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
from scipy.special import ndtr, ndtri

KASTEN_A = 0.75
KASTEN_B = 3.4
"""Kasten & Czeplak (1980): GHI = GHI_clear · (1 − 0.75 · cover^3.4)."""


def cloud_cover(
    date: dt.date, n: int, step_s: float, *, mean: float, timescale_s: float, seed: int
) -> np.ndarray:
    """``n`` cloud-cover samples ``step_s`` apart over ``date`` (a fraction of the sky)."""
    if mean <= 0.0:
        return np.zeros(n)
    if mean >= 1.0:
        return np.ones(n)
    rng = np.random.default_rng([seed, date.toordinal()])
    phi = math.exp(-step_s / timescale_s)
    noise = rng.standard_normal(n)
    x = np.empty(n)
    x[0] = noise[0]
    innovation = math.sqrt(1.0 - phi * phi)
    for k in range(1, n):
        x[k] = phi * x[k - 1] + innovation * noise[k]
    mu = math.sqrt(2.0) * float(ndtri(mean))
    return np.asarray(ndtr(x + mu))


def cloudy_ghi(clear_ghi_w_m2: np.ndarray, cover: np.ndarray) -> np.ndarray:
    """Global horizontal irradiance under ``cover`` (Kasten & Czeplak)."""
    return clear_ghi_w_m2 * (1.0 - KASTEN_A * cover**KASTEN_B)
