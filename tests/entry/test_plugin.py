"""gridbench's pytest plugin as a lab's test session sees it (pytester)."""

from __future__ import annotations

import pytest

pytest_plugins = ["pytester"]

pytestmark = pytest.mark.chain

REVERTS = """
from bench.chain.anvil import rpc_call

def _block(url):
    return int(rpc_call(url, "eth_blockNumber"), 16)

def test_mines_three_blocks(anvil):
    start = _block(anvil.url)
    for _ in range(3):
        rpc_call(anvil.url, "evm_mine")
    assert _block(anvil.url) == start + 3

def test_sees_none_of_them(anvil):
    assert _block(anvil.url) == 0

def test_mines_again_after_the_revert(anvil):
    rpc_call(anvil.url, "evm_mine")
    assert _block(anvil.url) == 1

def test_and_is_reverted_again(anvil):
    assert _block(anvil.url) == 0
"""


def test_anvil_is_reverted_after_every_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(REVERTS)
    result = pytester.runpytest("-p", "no:cacheprovider")
    result.assert_outcomes(passed=4)


def test_hil_tests_are_skipped_without_a_port(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.hil
        def test_board(pytestconfig):
            assert pytestconfig.getoption("--meter-port") == ["/dev/ttyACM7"]
        """
    )
    pytester.runpytest("-p", "no:cacheprovider").assert_outcomes(skipped=1)
    pytester.runpytest("-p", "no:cacheprovider", "--meter-port", "/dev/ttyACM7").assert_outcomes(
        passed=1
    )


def test_bench_config_option_and_unknown_parameters(pytester: pytest.Pytester) -> None:
    pytester.makefile(
        ".toml",
        lab="""
        [scenario]
        intervals = 3
        [[meters]]
        id = "m"
        kind = "fake"
        power_w = 100.0
        [[participants]]
        name = "p"
        meter = "m"
        """,
    )
    pytester.makepyfile(
        """
        import pytest
        from bench.errors import ConfigError
        from gridbench.pytest_plugin import parameter_path

        def test_config(bench_config):
            assert bench_config.intervals == 3
            assert bench_config.bench.meters[0].kind == "fake"

        def test_names():
            assert parameter_path("intervals") == "scenario.intervals"
            assert parameter_path("market__mechanism") == "market.mechanism"
            assert parameter_path("participants__roof__strategy") == "participants.roof.strategy"
            with pytest.raises(ConfigError, match="unknown parameter 'intervalz'"):
                parameter_path("intervalz")
        """
    )
    # in a subprocess: numpy cannot be imported twice in one process
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider", "--bench-config", "lab.toml")
    result.assert_outcomes(passed=2)
