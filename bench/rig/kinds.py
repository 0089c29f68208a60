"""The registry of meter kinds: what each kind can do, how the rig starts it, how it opens.

A kind (labgrid's resource + driver pair) has capabilities, a ``start`` that brings its
meters up for a rig and says where each lives (a :class:`MeterSite`), and an ``open``
that connects a driver to a site. The five built-in kinds are registered in
:mod:`bench.rig.builtin`; a new kind (``mqtt``, ``modbus``) registers itself the same way.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from bench.config import BenchConfig, MeterConfig
from bench.devices.protocol import Meter
from bench.errors import ConfigError
from bench.rig.load import LoadControl


class Capability(StrEnum):
    """What a meter kind can do beyond reading energy."""

    RELAY = "relay"
    """Switch the supply relay."""
    SIGNING = "signing"
    """Sign its own counters (else the bench attests them, shown as "attested by bench")."""
    LOAD_CONTROL = "load_control"
    """The bench sets the load it measures (demand response, the emulated feeder)."""
    CALIBRATION = "calibration"
    """Store a calibration on the meter."""


@dataclass(frozen=True)
class MeterSite:
    """Where a started meter lives: its address, its load (if the bench drives it) and,
    for an in-process meter, the driver itself."""

    url: str
    load: LoadControl | None = None
    driver: Meter | None = None
    restored: bool = False
    """The rig's own meter came up from the memory it kept across a bench restart
    (:attr:`SimTime.memory_dir`), so its counters did not start at 0."""


@dataclass(frozen=True)
class SimTime:
    """The scenario's clock as the rig's meters see it."""

    now_s: Callable[[], float]
    """Simulated seconds now (the energy the meters integrate follows it)."""
    real_time_of: Callable[[float], float]
    """The host monotonic instant at which ``now_s`` showed a simulated time."""
    speed: float = 1.0
    """Simulated seconds per real second."""
    memory_dir: Path | None = None
    """Where the meters the rig runs itself (emulated, simavr) keep their EEPROM, so a
    resumed run finds them as a killed one left them (a private folder in the run's
    folder, made by :meth:`memory_folder`); None: kept in RAM."""

    def memory_folder(self) -> Path | None:
        """:attr:`memory_dir`, made (mode 0700) if it is new, for a kind that keeps
        memory there; None without one."""
        if self.memory_dir is not None:
            self.memory_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        return self.memory_dir


Starter = Callable[
    [contextlib.ExitStack, Sequence[MeterConfig], BenchConfig, SimTime], dict[str, MeterSite]
]
Opener = Callable[[MeterConfig, BenchConfig, MeterSite], Meter]


@dataclass(frozen=True)
class MeterKind:
    """One registered kind."""

    name: str
    capabilities: frozenset[Capability]
    start: Starter
    open: Opener
    refine: Callable[[MeterConfig], frozenset[Capability]] | None = None

    def capabilities_of(self, meter: MeterConfig) -> frozenset[Capability]:
        """The capabilities of one configured meter of this kind."""
        return self.refine(meter) if self.refine is not None else self.capabilities


_KINDS: dict[str, MeterKind] = {}


def register_kind(
    name: str,
    *,
    capabilities: set[Capability],
    start: Starter,
    open: Opener,
    refine: Callable[[MeterConfig], frozenset[Capability]] | None = None,
) -> MeterKind:
    """Add a meter kind; a name registers once."""
    if name in _KINDS:
        raise ConfigError(f"meter kind {name!r} is registered twice; give the new kind its name")
    kind = MeterKind(name, frozenset(capabilities), start, open, refine)
    _KINDS[name] = kind
    return kind


def meter_kind(name: str) -> MeterKind:
    """The registered kind ``name``."""
    try:
        return _KINDS[name]
    except KeyError:
        raise ConfigError(
            f"meter kind {name!r} is not registered; known: {', '.join(sorted(_KINDS))}"
        ) from None


def registered_kinds() -> tuple[str, ...]:
    """The names of every registered kind."""
    return tuple(_KINDS)


def open_meter(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    """Connect a driver to a started meter, the way its kind opens."""
    return meter_kind(meter.kind).open(meter, bench, site)
