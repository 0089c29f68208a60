"""A real board, when ``--meter-port PORT`` is given (skipped otherwise).

The key comes from ``GRIDBENCH_METER_KEY`` (64 hex digits) or is the default key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.config import BenchConfig, MeterConfig
from bench.rig import MeterSite, open_meter

from .kinds import MeterUnderTest, register_kind


@register_kind("real", runtime="firmata", caps={"wire"}, marks=[pytest.mark.hil])
def real_board(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The first board given with --meter-port."""
    ports = request.config.getoption("--meter-port", default=None) or []
    if not ports:
        pytest.skip("no real board: pass --meter-port PORT to run the conformance suite on one")
    key = bytes.fromhex(os.environ.get("GRIDBENCH_METER_KEY", "00" * 32))
    config = MeterConfig(
        "real", kind="firmata", port=ports[0], key=key, allow_default_key=key == bytes(32)
    )
    driver = open_meter(config, BenchConfig(meters=(config,)), MeterSite(ports[0]))
    try:
        proto = driver.identity().protocol_version
        signs = proto >= (1, 1) and driver.identity().signing_key
        yield MeterUnderTest(
            driver,
            None,
            frozenset({"wire"}),
            key=key,
            lacks=frozenset() if signs else frozenset({"signing"}),
            why_not=f"its firmware speaks protocol {proto[0]}.{proto[1]} with no signing key",
        )
    finally:
        driver.close()
