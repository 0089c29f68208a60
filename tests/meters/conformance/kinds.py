"""The registry of meter kinds the conformance suite runs against.

A kind is a generator function ``factory(request) -> Iterator[MeterUnderTest]``: it
starts the meter, yields a connected driver plus an optional truth handle, and cleans up.
Register it with ``@register_kind("name", caps={...}, marks=[...])``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

import pytest

from bench.devices.protocol import Meter


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
    why_not: str = ""  # why the meter lacks a capability its kind declares


@dataclass(frozen=True)
class Kind:
    name: str
    factory: Callable[[pytest.FixtureRequest], Iterator[MeterUnderTest]]
    caps: frozenset[str]
    marks: tuple[pytest.MarkDecorator, ...]


KINDS: dict[str, Kind] = {}

# Capabilities a kind may declare:
#   truth  - the test can set power and read the relay/counters back
#   wire   - the driver is a FirmataMeter (raw link access, auth, wire errors)
#   reboot - the test can reboot the meter (boot counter, counters survive)
#   signing - the meter signs its readings (protocol 1.1: SIGNER, SIGNED_READING,
#             NEW_SIGNING_KEY); a kind may drop it at connection time (MeterUnderTest.caps)
#             when the meter it reached turns out not to sign
CAPS = frozenset({"truth", "wire", "reboot", "signing"})


def register_kind(
    name: str, *, caps: set[str], marks: list[pytest.MarkDecorator] | None = None
) -> Callable[[Callable[[pytest.FixtureRequest], Iterator[MeterUnderTest]]], Any]:
    """Decorator: add a meter kind to the conformance suite."""
    unknown = set(caps) - CAPS
    if unknown:
        raise ValueError(f"unknown capabilities {unknown}; known: {sorted(CAPS)}")

    def deco(factory: Callable[[pytest.FixtureRequest], Iterator[MeterUnderTest]]) -> Any:
        KINDS[name] = Kind(name, factory, frozenset(caps), tuple(marks or ()))
        return factory

    return deco
