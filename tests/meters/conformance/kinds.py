"""The registry of meter kinds the conformance suite runs against.

A kind is a generator function ``factory(request) -> Iterator[MeterUnderTest]``: it
starts the meter, yields a connected driver plus an optional truth handle, and cleans up.
Register it with ``@register_kind("name", runtime="kind", caps={...}, marks=[...])``:
``runtime`` names the bench's own kind (:mod:`bench.rig`) the factory exercises, whose
capabilities (relay, signing, load_control, calibration) join the kind's ``caps``, so a
kind that claims a capability at runtime runs that capability's tests here.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from bench.devices.protocol import Meter
from bench.rig import Capability, meter_kind


class Truth(Protocol):
    """What a test can inject into or read back from the meter under test."""

    def set_power(self, power_w: float) -> None:
        """Signed power the meter should measure (positive import)."""

    @property
    def relay_closed(self) -> bool:
        """The relay's physical state."""

    def energy_wh(self) -> tuple[float, float]:
        """True (import, export) counters."""


@dataclass
class MeterUnderTest:
    """A connected driver, its truth handle (None for a real board) and capabilities."""

    driver: Meter
    truth: Truth | None
    caps: frozenset[str]
    key: bytes = bytes(32)
    extra: dict[str, Any] = field(default_factory=dict)
    reboot: Callable[[], None] | None = None
    lacks: frozenset[str] = frozenset()  # capabilities of the kind this meter lacks
    why_not: str = ""  # why it lacks them
    energy_resolution_wh: float = 0.0  # the counters' step (a PZEM-004T counts whole Wh)
    integrate_s: float = 0.5  # how long the counters integrate before a check (its
    # relative error is the read's timing jitter over this: longer for a slow bus)


@dataclass(frozen=True)
class Kind:
    name: str
    runtime: str
    factory: Callable[[pytest.FixtureRequest], Iterator[MeterUnderTest]]
    caps: frozenset[str]
    marks: tuple[pytest.MarkDecorator, ...]


KINDS: dict[str, Kind] = {}

# Capabilities a kind may declare:
#   truth  - the test can set power and read the relay/counters back
#   wire   - the driver is a FirmataMeter (raw link access, auth, wire errors)
#   reboot - the test can reboot the meter (boot counter, counters survive)
# plus the runtime kind's capabilities (bench.rig.Capability values). A connected meter
# may lack one its kind declares (a firmware build that does not sign yet): its factory
# says so in MeterUnderTest.lacks and why_not, and the tests needing it skip. A meter
# that measures magnitudes only (a PZEM-004T) lacks "export": negative powers skip.
CAPS = frozenset({"truth", "wire", "reboot"})


def register_kind(
    name: str, *, runtime: str, caps: set[str], marks: list[pytest.MarkDecorator] | None = None
) -> Callable[[Callable[[pytest.FixtureRequest], Iterator[MeterUnderTest]]], Any]:
    """Decorator: add a meter kind to the conformance suite."""
    unknown = set(caps) - CAPS
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}; known: {sorted(CAPS)}")
    runtime_caps = {Capability(c).value for c in meter_kind(runtime).capabilities}

    def deco(factory: Callable[[pytest.FixtureRequest], Iterator[MeterUnderTest]]) -> Any:
        all_caps = frozenset(caps) | runtime_caps
        KINDS[name] = Kind(name, runtime, factory, all_caps, tuple(marks or ()))
        return factory

    return deco
