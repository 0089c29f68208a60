"""``gridbench price bench --quick`` produces well-formed figures (never timed)."""

from __future__ import annotations

import argparse
import json
import math

import pytest

from bench.benchmarks.pricing import format_table, run_benchmark
from bench.cli import price


@pytest.fixture(scope="module")
def result():  # type: ignore[no-untyped-def]
    return run_benchmark(quick=True)


def test_quick_run_is_well_formed(result) -> None:  # type: ignore[no-untyped-def]
    figures = result.as_dict()
    keys = ("clear_1m_s", "clear_1m_cpu_s", "lp_speedup_100k", "api_lp_speedup_100k", "pde_step_ms")
    for key in (*keys, "pde_gtsv_floor_ms", "pde_floor_ratio", "pde_order", "pde_nodes"):
        value = figures[key]
        assert isinstance(value, int | float) and math.isfinite(value) and value > 0, key
    assert result.lp_welfare_rel_error <= 1e-7
    assert result.lp_volume_consistent
    assert result.pde_order >= 1.9  # accuracy, not speed
    assert result.pde_lq_error_wei_per_wh < 0.1
    assert result.pde_floor_ratio == pytest.approx(result.pde_step_ms / result.pde_gtsv_floor_ms)
    # the headline speed-up is the most conservative of the wall and CPU-time ratios
    ratios = (
        result.api_lp_speedup_100k_distinct,
        result.api_lp_speedup_100k_tied,
        result.api_lp_speedup_100k_cpu_distinct,
        result.api_lp_speedup_100k_cpu_tied,
    )
    assert result.api_lp_speedup_100k == min(ratios)
    assert result.api_lp_speedup_100k_cpu_tied == pytest.approx(
        result.lp_100k_tied_cpu_s / result.api_100k_tied_cpu_s
    )
    assert (
        result.pde_solves >= result.pde_steps * result.pde_substeps
    )  # one solve per sub-step at least
    assert "re-solve / floor" in format_table(result)


def test_cli_prints_json(capsys: pytest.CaptureFixture[str]) -> None:
    parser = argparse.ArgumentParser(prog="gridbench")
    price.register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["price", "bench", "--quick", "--json"])
    assert args.func(args) == 0
    figures = json.loads(capsys.readouterr().out)
    assert {
        "clear_1m_s",
        "lp_speedup_100k",
        "api_lp_speedup_100k",
        "pde_step_ms",
        "pde_gtsv_floor_ms",
        "pde_order",
    } <= figures.keys()
    assert figures["quick"] is True
