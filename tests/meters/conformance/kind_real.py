"""A real board, when ``--meter-port PORT`` is given (skipped otherwise).

The key comes from ``GRIDBENCH_METER_KEY`` (64 hex digits) or is the default key.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from bench.devices import FirmataMeter

from .kinds import MeterUnderTest, register_kind


@register_kind("real", caps={"wire"}, marks=[pytest.mark.hil])
def real_board(request: pytest.FixtureRequest) -> Iterator[MeterUnderTest]:
    """The first board given with --meter-port."""
    ports = request.config.getoption("--meter-port", default=None) or []
    if not ports:
        pytest.skip("no real board: pass --meter-port PORT to run the conformance suite on one")
    key = bytes.fromhex(os.environ.get("GRIDBENCH_METER_KEY", "00" * 32))
    driver = FirmataMeter.open(ports[0], reset_wait_s=2.0, key=key)
    try:
        yield MeterUnderTest(driver, None, frozenset({"wire"}), key=key)
    finally:
        driver.close()
