"""Pricing benchmark: pay-as-clear on 1M orders, speed-up over the LP, one PDE re-solve.

Every baseline is measured in the same run on the same machine: the welfare LP (HiGHS)
on the same 100,000-order book (distinct and tied prices), the bare tridiagonal solves
the PDE re-solve used (as many, of the same size, with the same LAPACK ``dgtsv`` called
the same way: from compiled code), and the analytic solutions for the PDE error and order.
Timings are the best of several repeats (``time.perf_counter``; ``clear_1m_cpu_s`` is the
same call in process CPU time, which a loaded machine inflates much less); books are
built before timing as columns (``OrderArrays``); the public ``pay_as_clear`` includes
its trades. ``api_lp_speedup_100k`` is the smallest of four ratios: distinct and tied
books, each in wall time and in process CPU time (the LP's wall time on a loaded machine
includes waiting for a core, which flatters the wall ratio).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import TypeVar

import numpy as np
from scipy.linalg import lapack

from pricing import Forecast, OrderArrays, StorageModel, clear_uniform, pay_as_clear, solve_storage
from pricing.hjb import gradient
from pricing.oracle import welfare_lp
from pricing.storage_march import bare_solves
from pricing.verification import ConvergenceRow, LQCase, LuciaSchwartzCase, convergence

PDE_NODES = 101
PDE_STEPS = 96
PDE_STEP_H = 0.25


@dataclass(frozen=True)
class PricingBenchResult:
    """Figures of one benchmark run (times in s unless the name says ms)."""

    quick: bool
    clear_orders: int
    clear_1m_s: float
    clear_1m_cpu_s: float
    clear_1m_same_time_s: float
    lp_orders: int
    clear_100k_s: float
    lp_100k_s: float
    lp_speedup_100k: float
    lp_speedup_100k_same_time: float
    lp_welfare_rel_error: float
    lp_volume_consistent: bool
    api_100k_s: float
    api_100k_cpu_s: float
    api_100k_tied_s: float
    api_100k_tied_cpu_s: float
    lp_100k_cpu_s: float
    lp_100k_tied_s: float
    lp_100k_tied_cpu_s: float
    api_lp_speedup_100k: float
    api_lp_speedup_100k_distinct: float
    api_lp_speedup_100k_tied: float
    api_lp_speedup_100k_cpu_distinct: float
    api_lp_speedup_100k_cpu_tied: float
    pde_nodes: int
    pde_steps: int
    pde_substeps: int
    pde_step_ms: float
    pde_solves: int
    pde_gtsv_floor_ms: float
    pde_floor_ratio: float
    pde_gtsv_scipy_loop_ms: float
    pde_policy_iterations_mean: float
    pde_tolerance_error_wei_per_wh: float
    pde_lq_error_wei_per_wh: float
    pde_order: float
    pde_order_lq: float
    pde_order_lucia_schwartz: float

    def as_dict(self) -> dict[str, object]:
        """JSON-ready figures."""
        return asdict(self)


T = TypeVar("T")


def _best(
    fn: Callable[[], T], repeats: int, clock: Callable[[], float] = time.perf_counter
) -> tuple[float, T]:
    """The fastest of ``repeats`` runs, in seconds of ``clock``, and the last run's result."""
    best = float("inf")
    for _ in range(repeats):
        start = clock()
        result = fn()
        best = min(best, clock() - start)
    return best, result


def _best_wall_cpu(fn: Callable[[], T], repeats: int) -> tuple[float, float, T]:
    """The fastest of ``repeats`` runs in wall time and, separately, in process CPU time
    (s), and the last run's result: a loaded machine stretches a long call's wall time
    (waiting for a core) far more than a short call's best, the CPU time much less."""
    wall = cpu = float("inf")
    for _ in range(repeats):
        start_wall, start_cpu = time.perf_counter(), time.process_time()
        result = fn()
        cpu = min(cpu, time.process_time() - start_cpu)
        wall = min(wall, time.perf_counter() - start_wall)
    return wall, cpu, result


def random_book(n: int, seed: int, *, same_time: bool = False, tied: bool = False) -> OrderArrays:
    """A 15-minute interval's book: prices ~N(250 ± 20, 60) wei/Wh, 1–5000 Wh, 10k names.

    ``tied``: every price is one of 240, 250, 260 (large ties at the marginal levels).
    """
    rng = np.random.default_rng(seed)
    is_bid = rng.random(n) < 0.5
    mean = np.where(is_bid, 270.0, 230.0)
    price = np.clip(np.rint(rng.normal(mean, 60.0)), 1, 1000).astype(np.int64)
    if tied:
        price = rng.choice(np.array([240, 250, 260], dtype=np.int64), n)
    times = np.zeros(n) if same_time else rng.uniform(0.0, 900.0, n)
    names = [f"p{i}" for i in range(10_000)]
    return OrderArrays.from_columns(
        names, rng.integers(0, len(names), n), is_bid, rng.integers(1, 5001, n), price, times
    )


def day_forecast(load_shift_w: float = 0.0) -> Forecast:
    """24 h at 15 min: night demand, a midday PV surplus, an evening price peak."""
    hours = np.arange(PDE_STEPS) * PDE_STEP_H
    load = 800.0 - 2500.0 * np.clip(np.sin((hours - 6.0) / 12.0 * np.pi), 0.0, None)
    load = load + load_shift_w
    price = 200.0 + 100.0 * ((hours >= 17.0) & (hours < 21.0))
    return Forecast(PDE_STEP_H, load, price)


def run_benchmark(*, quick: bool = False, seed: int = 0) -> PricingBenchResult:
    """Run every measurement; ``quick`` uses 10x smaller books and fewer repeats."""
    big, lp_n, repeats = (100_000, 10_000, 2) if quick else (1_000_000, 100_000, 5)
    book = random_book(big, seed)
    clear_big, _ = _best(lambda: pay_as_clear(book), repeats)
    clear_big_cpu, _ = _best(lambda: pay_as_clear(book), repeats, time.process_time)
    same = random_book(big, seed, same_time=True)
    clear_big_same, _ = _best(lambda: pay_as_clear(same), repeats)

    small = random_book(lp_n, seed + 1)
    small_same = random_book(lp_n, seed + 1, same_time=True)
    clear_small, ours = _best(lambda: clear_uniform(small), repeats * 4)
    clear_small_same, _ = _best(lambda: clear_uniform(small_same), repeats * 4)
    lp_repeats = 2 if quick else 3
    lp_time, lp_cpu_s, lp = _best_wall_cpu(lambda: welfare_lp(small, max_volume=False), lp_repeats)
    rel = abs(ours.welfare_wei - lp.welfare_wei) / max(1.0, abs(lp.welfare_wei))
    api_s, api_cpu_s, _ = _best_wall_cpu(lambda: pay_as_clear(small), repeats * 4)
    tied = random_book(lp_n, seed + 2, same_time=True, tied=True)
    api_tied_s, api_tied_cpu_s, _ = _best_wall_cpu(lambda: pay_as_clear(tied), repeats * 4)
    lp_tied_s, lp_tied_cpu_s, _ = _best_wall_cpu(
        lambda: welfare_lp(tied, max_volume=False), lp_repeats
    )
    speedups = {
        "distinct": lp_time / api_s,
        "tied": lp_tied_s / api_tied_s,
        "cpu_distinct": lp_cpu_s / api_cpu_s,
        "cpu_tied": lp_tied_cpu_s / api_tied_cpu_s,
    }

    model = StorageModel(soc_nodes=PDE_NODES)
    forecast = day_forecast()
    pde_s, fast = _best(lambda: solve_storage(model, forecast), 3 if quick else 10)
    solves = int(fast.solution.iterations.sum())
    floor_s, _ = _best(lambda: bare_solves(PDE_NODES, solves), 3 if quick else 10)
    scipy_loop_s, _ = _best(lambda: scipy_gtsv_loop(PDE_NODES, solves), 3 if quick else 10)
    tight = solve_storage(model, forecast, tol=1e-12)
    tol_err = float(np.abs(fast.solution.gradient(0) - tight.solution.gradient(0)).max())
    lq = LQCase()
    lq_sol = lq.solve(PDE_NODES, PDE_STEPS)
    h = float(lq_sol.x[1] - lq_sol.x[0])
    exact_grad = gradient(lq.exact(0.0, lq_sol.x), h)
    lq_err = float(np.abs(lq_sol.gradient(0) - exact_grad).max())
    levels = 3 if quick else 5
    order_lq = _last_order(convergence(lq, levels=levels))
    order_ls = _last_order(convergence(LuciaSchwartzCase(), levels=levels))

    return PricingBenchResult(
        quick=quick,
        clear_orders=big,
        clear_1m_s=clear_big,
        clear_1m_cpu_s=clear_big_cpu,
        clear_1m_same_time_s=clear_big_same,
        lp_orders=lp_n,
        clear_100k_s=clear_small,
        lp_100k_s=lp_time,
        lp_speedup_100k=lp_time / clear_small,
        lp_speedup_100k_same_time=lp_time / clear_small_same,
        lp_welfare_rel_error=rel,
        lp_volume_consistent=ours.volume_wh + ours.netted_wh >= lp.volume_wh - 1e-6,
        api_100k_s=api_s,
        api_100k_cpu_s=api_cpu_s,
        api_100k_tied_s=api_tied_s,
        api_100k_tied_cpu_s=api_tied_cpu_s,
        lp_100k_cpu_s=lp_cpu_s,
        lp_100k_tied_s=lp_tied_s,
        lp_100k_tied_cpu_s=lp_tied_cpu_s,
        api_lp_speedup_100k=min(speedups.values()),
        api_lp_speedup_100k_distinct=speedups["distinct"],
        api_lp_speedup_100k_tied=speedups["tied"],
        api_lp_speedup_100k_cpu_distinct=speedups["cpu_distinct"],
        api_lp_speedup_100k_cpu_tied=speedups["cpu_tied"],
        pde_nodes=PDE_NODES,
        pde_steps=PDE_STEPS,
        pde_substeps=model.substeps_for(forecast.step_h),
        pde_step_ms=pde_s * 1e3,
        pde_solves=solves,
        pde_gtsv_floor_ms=floor_s * 1e3,
        pde_floor_ratio=pde_s / floor_s,
        pde_gtsv_scipy_loop_ms=scipy_loop_s * 1e3,
        pde_policy_iterations_mean=float(fast.solution.iterations.mean()),
        pde_tolerance_error_wei_per_wh=tol_err,
        pde_lq_error_wei_per_wh=lq_err,
        pde_order=min(order_lq, order_ls),
        pde_order_lq=order_lq,
        pde_order_lucia_schwartz=order_ls,
    )


def scipy_gtsv_loop(nodes: int, solves: int) -> None:
    """The same solves through scipy's Python wrapper in a Python loop (context only: the
    re-solve no longer pays this wrapper, so it is not the floor)."""
    sub = np.full(nodes - 1, -0.5)
    diag = np.full(nodes, 2.0)
    sup = np.full(nodes - 1, -0.5)
    rhs = np.ones(nodes)
    for _ in range(solves):
        lapack.dgtsv(sub, diag, sup, rhs)


def _last_order(rows: list[ConvergenceRow]) -> float:
    order = rows[-1].order
    return float("nan") if order is None else float(order)


def format_table(r: PricingBenchResult) -> str:
    """A human-readable table with targets and ratios against the same-run baselines."""
    n_big, n_lp = f"{r.clear_orders:,}", f"{r.lp_orders:,}"
    rows = [
        ("measurement", "value", "target / baseline"),
        (f"pay_as_clear (public, trades), {n_big} orders", f"{r.clear_1m_s:.3f} s", "< 0.2 s"),
        ("  CPU time of the same call", f"{r.clear_1m_cpu_s:.3f} s", "(wall time less waiting)"),
        ("  same, one arrival time", f"{r.clear_1m_same_time_s:.3f} s", "< 0.2 s"),
        (f"pay-as-clear, {n_lp} orders", f"{r.clear_100k_s * 1e3:.2f} ms", ""),
        (f"welfare LP (HiGHS), {n_lp} orders", f"{r.lp_100k_s:.3f} s", "baseline"),
        ("speed-up over the LP", f"{r.lp_speedup_100k:.0f}x", "≥ 100x"),
        ("  same, one arrival time", f"{r.lp_speedup_100k_same_time:.0f}x", "≥ 100x"),
        (
            f"pay_as_clear (public), {n_lp}",
            f"{r.api_100k_s * 1e3:.2f} ms",
            f"CPU {r.api_100k_cpu_s * 1e3:.2f} ms",
        ),
        ("  LP, same book", f"{r.lp_100k_s:.3f} s", f"CPU {r.lp_100k_cpu_s:.3f} s"),
        (
            "  speed-up over the LP",
            f"{r.api_lp_speedup_100k_distinct:.0f}x",
            f"CPU {r.api_lp_speedup_100k_cpu_distinct:.0f}x",
        ),
        (
            f"  tied prices (3 levels), {n_lp}",
            f"{r.api_100k_tied_s * 1e3:.2f} ms",
            f"CPU {r.api_100k_tied_cpu_s * 1e3:.2f} ms",
        ),
        ("  LP on the tied book", f"{r.lp_100k_tied_s:.3f} s", f"CPU {r.lp_100k_tied_cpu_s:.3f} s"),
        (
            "  speed-up over the LP",
            f"{r.api_lp_speedup_100k_tied:.0f}x",
            f"CPU {r.api_lp_speedup_100k_cpu_tied:.0f}x",
        ),
        ("api_lp_speedup_100k (smallest of the four)", f"{r.api_lp_speedup_100k:.0f}x", "≥ 100x"),
        ("welfare vs LP (relative)", f"{r.lp_welfare_rel_error:.1e}", "≤ 1e-7"),
        ("volume ≥ LP volume", str(r.lp_volume_consistent).lower(), "true"),
        (
            f"PDE re-solve {r.pde_nodes}x{r.pde_steps}x{r.pde_substeps} (monotone)",
            f"{r.pde_step_ms:.2f} ms",
            f"{r.pde_solves} solves ({r.pde_policy_iterations_mean:.2f} per interval)",
        ),
        (f"  {r.pde_solves} bare gtsv solves", f"{r.pde_gtsv_floor_ms:.2f} ms", "floor"),
        ("  re-solve / floor", f"{r.pde_floor_ratio:.1f}x", "≤ 3x"),
        ("  same solves, scipy wrapper in Python", f"{r.pde_gtsv_scipy_loop_ms:.2f} ms", ""),
        ("  vs tol=1e-12 solve", f"{r.pde_tolerance_error_wei_per_wh:.3f} wei/Wh", "max |Δλ|"),
        ("  LQ closed form, same grid", f"{r.pde_lq_error_wei_per_wh:.4f} wei/Wh", "max |Δλ|"),
        ("observed order (LQ)", f"{r.pde_order_lq:.3f}", "≥ 1.9"),
        ("observed order (Lucia–Schwartz)", f"{r.pde_order_lucia_schwartz:.3f}", "≥ 1.9"),
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(3)]
    return "\n".join(
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    )
