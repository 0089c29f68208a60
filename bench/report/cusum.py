"""A run-level cumulative test for a small persistent tap (Page's CUSUM).

Each interval's unexplained energy is ``u_n = θ + e_n − e_{n−1} + ε_n``: a tap θ, the
error ``e_n`` of cutting the meters at boundary ``n`` (energy moved from one interval
into the next, so it cancels in a sum) and the meters' own error ``ε_n``. Page's
statistic ``g_n = max(0, g_{n−1} + u_n − k_n)`` equals the largest
``S_n − S_m − Σ k`` over ``m < n`` (``S`` the running sum of ``u``), so the cut errors
contribute at most ``e_n − e_m``: two boundaries' worth however long the run, while a
tap adds ``θ`` every interval. ``k_n`` allows for the meters' declared accuracy
(one whole Wh per meter for the counters' resolution); the threshold ``h`` is two
boundaries' cut error: each at most half the per-interval tolerance of the energy
balance (the largest in the run), so ``h`` is one tolerance when every meter is cut on
its own clock, two when some are cut by their readings' arrival (host jitter).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class CusumStep:
    """One interval of the test."""

    interval_id: int
    unexplained_wh: float
    allowance_wh: float
    statistic_wh: float


@dataclass(frozen=True)
class CusumResult:
    """The whole run: every step, the threshold and the first interval over it."""

    steps: tuple[CusumStep, ...]
    threshold_wh: float
    alarm_interval: int | None

    @property
    def alarmed(self) -> bool:
        return self.alarm_interval is not None

    @property
    def peak_wh(self) -> float:
        """The largest statistic reached (0 for an empty run)."""
        return max((s.statistic_wh for s in self.steps), default=0.0)


def page_cusum(
    unexplained_wh: Sequence[tuple[int, float]],
    allowance_wh: Sequence[float],
    threshold_wh: float,
) -> CusumResult:
    """Page's one-sided CUSUM for a positive shift (energy missing) over the run."""
    g, steps, alarm = 0.0, [], None
    for (interval_id, u), k in zip(unexplained_wh, allowance_wh, strict=True):
        g = max(0.0, g + u - k)
        steps.append(CusumStep(interval_id, u, k, g))
        if alarm is None and g > threshold_wh:
            alarm = interval_id
    return CusumResult(tuple(steps), threshold_wh, alarm)
