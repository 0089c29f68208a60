"""The meter conformance suite: one set of tests, parametrized over meter kinds.

Kinds live in ``kind_*.py`` modules next to this file; each is imported automatically and
registers its factories with :func:`kinds.register_kind`. To add a kind (for example
the AVR firmware in simavr), drop ``kind_simavr.py`` here::

    from .kinds import MeterUnderTest, register_kind

    @register_kind("simavr", runtime="simavr", caps={"truth", "wire", "reboot"},
                   marks=[pytest.mark.firmware])
    def simavr(request):
        runner = start_simavr_runner(...)          # prints its pty
        driver = FirmataMeter.open(runner.pty, reset_wait_s=0.0)
        try:
            yield MeterUnderTest(driver, truth=runner, caps=..., reboot=runner.reset)
        finally:
            driver.close(); runner.stop()

The truth object needs ``set_power(w)``, ``relay_closed`` and ``energy_wh()`` (see
:class:`kinds.Truth`); skip inside the factory when the toolchain is missing. Tests
that need a capability a kind lacks are skipped for that kind. A real board joins
with ``pytest --meter-port /dev/ttyACM0`` (kind ``real``).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from .kinds import KINDS, MeterUnderTest

for _path in sorted(Path(__file__).parent.glob("kind_*.py")):
    importlib.import_module(f"{__package__}.{_path.stem}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "meter" in metafunc.fixturenames:
        metafunc.parametrize(
            "meter_kind",
            [pytest.param(k.name, marks=k.marks, id=k.name) for k in KINDS.values()],
        )


@pytest.fixture
def meter(request: pytest.FixtureRequest, meter_kind: str) -> Iterator[MeterUnderTest]:
    """The meter under test; skips when the test needs a capability the kind lacks."""
    kind = KINDS[meter_kind]
    for diverges in request.node.iter_markers("diverges"):
        if diverges.args[0] == kind.name:  # a known divergence: must fail until fixed
            request.applymarker(pytest.mark.xfail(strict=True, reason=diverges.args[1]))
    marker = request.node.get_closest_marker("needs")
    needed = set(marker.args if marker else ())
    if needed - kind.caps:
        pytest.skip(f"kind {kind.name} lacks {sorted(needed - kind.caps)}")
    started = kind.factory(request)
    mut = next(started)
    if needed & mut.lacks:  # e.g. a firmware build that does not sign yet
        started.close()
        pytest.skip(f"this {kind.name} meter lacks {sorted(needed & mut.lacks)}: {mut.why_not}")
    yield mut
    next(started, None)
