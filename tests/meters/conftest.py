"""Fixtures for the meter tests (host drivers, protocol, emulator).

Markers used here: ``slow`` (fuzz profiles, excluded by default: ``pytest -m slow``),
``hil`` (real board: ``--meter-port PORT``, defined in tests/conftest.py), ``firmware``
(simavr kinds added by the firmware suite). Every emulator here runs with
``reset_wait_s = 0``: nothing waits for an Arduino reset.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from bench.emulator import MeterFarm
from bench.errors import ToolMissingError
from bench.transport.mosquitto import Mosquitto


@pytest.fixture
def farm() -> Iterator[MeterFarm]:
    """A started, empty farm at real time; add meters with ``farm.add(EmulatedMeter(...))``."""
    with MeterFarm() as f:
        yield f
        assert f.loop_error is None, f"farm I/O thread died: {f.loop_error!r}"


@pytest.fixture
def fast_farm() -> Iterator[MeterFarm]:
    """A farm whose meters integrate one simulated hour per real second."""
    with MeterFarm(speed=3600.0) as f:
        yield f
        assert f.loop_error is None, f"farm I/O thread died: {f.loop_error!r}"


@pytest.fixture
def broker() -> Iterator[Mosquitto]:
    """A started mosquitto broker of its own (the test skipped when none is installed)."""
    try:
        server = Mosquitto()
    except ToolMissingError as exc:
        pytest.skip(str(exc))
    with server:
        yield server


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "needs(*caps): skip a conformance test for kinds lacking these capabilities"
    )
    config.addinivalue_line(
        "markers",
        "diverges(kind, reason): a conformance case that kind is known to fail "
        "(strict xfail: it must fail until the implementation is fixed)",
    )
