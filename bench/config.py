"""The meters part of a bench config (TOML): which meters exist and of which kind.

Example: ``fixtures/bench.example.toml``. Tables read here::

    [bench]        # baud, reset_wait_s, interval_s, backend (native | pyfirmata2)
    [[meters]]     # id, kind (firmata | generic | emulated | simavr | fake), port, key,
                   # profile, power_w, faults (emulated), [meters.generic] (generic boards)

Participants refer to meters by id (``[[participants]] meter = ...``, read by
:mod:`bench.scenario.config`).
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from bench.errors import ConfigError

KINDS = ("firmata", "generic", "emulated", "simavr", "fake")
"""Meter kinds (opened by :mod:`bench.rig`): a board on a port running the project's
firmware, a StandardFirmata board, the Python emulator, the firmware ELF in simavr, the
in-process fake."""
PORT_KINDS = ("firmata", "generic")
"""Kinds on a serial port named by ``port``; the bench starts the others itself."""
BACKENDS = ("native", "pyfirmata2")


@dataclass
class Faults:
    """Faults injected into one emulated meter's output. Rates are per frame."""

    noise_fraction: float = 0.0
    drift_per_h: float = 0.0
    garbage_rate: float = 0.0
    drop_rate: float = 0.0
    truncate_rate: float = 0.0
    wrong_firmware: bool = False


FAULT_FIELDS = tuple(f.name for f in fields(Faults))


def parse_faults(where: str, raw: Any) -> Faults:
    """Faults from a mapping of field names to values; unknown names are a ConfigError."""
    if not isinstance(raw, dict) or set(raw) - set(FAULT_FIELDS):
        raise ConfigError(f"{where}: faults must be a table with keys from {FAULT_FIELDS}")
    return Faults(**raw)


@dataclass(frozen=True)
class GenericConfig:
    """How to read a plain StandardFirmata board with analog sensors.

    The host estimates RMS from Firmata's analog samples (at most ~1 kHz shared by all
    channels, aliased against 50 Hz): good for DC or slowly varying sensor outputs and
    rough AC estimates only; energy is integrated on the host and lost while the board
    is disconnected.
    """

    voltage_pin: int = 0
    current_pin: int = 1
    v_per_count: float = 0.635
    a_per_count: float = 0.048828
    v_offset_counts: float = 512.0
    i_offset_counts: float = 512.0
    power_factor: float = 1.0
    direction: str = "import"
    relay_pin: int | None = None
    sampling_ms: int = 19
    window_s: float = 1.0


@dataclass(frozen=True)
class MeterConfig:
    """One ``[[meters]]`` entry."""

    meter_id: str
    kind: str = "emulated"
    port: str | None = None
    key: bytes = bytes(32)
    profile: str | None = None
    power_w: float = 0.0
    faults: Faults = field(default_factory=Faults)
    generic: GenericConfig | None = None

    @property
    def emulated(self) -> bool:
        """True when the bench starts this meter in the Python emulator."""
        return self.kind == "emulated"


@dataclass(frozen=True)
class BenchConfig:
    """The meters and link settings of a bench."""

    meters: tuple[MeterConfig, ...]
    baud: int = 57600
    reset_wait_s: float = 2.0
    interval_s: float = 0.1
    backend: str = "native"
    source: Path | None = None

    def meter(self, meter_id: str) -> MeterConfig:
        """The entry for ``meter_id``."""
        for m in self.meters:
            if m.meter_id == meter_id:
                return m
        raise ConfigError(f"no meter {meter_id!r} in the bench config; add a [[meters]] entry")


def read_toml(path: Path, if_missing: str) -> dict[str, Any]:
    """The TOML document at ``path``; a missing or malformed file is a ConfigError."""
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError as exc:
        raise ConfigError(f"bench config {path} does not exist; {if_missing}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"bench config {path} is not valid TOML: {exc}; fix the file") from exc


def load_bench_config(path: Path | str) -> BenchConfig:
    """Read ``[bench]`` and ``[[meters]]`` from a TOML file."""
    path = Path(path)
    data = read_toml(path, "copy fixtures/bench.example.toml")
    return parse_bench_config(data, source=path)


def parse_bench_config(data: dict[str, Any], source: Path | None = None) -> BenchConfig:
    """Validate ``[bench]`` and ``[[meters]]`` of an already-parsed TOML document."""
    bench = data.get("bench", {})
    if not isinstance(bench, dict):
        raise ConfigError("[bench] must be a table in the bench config")
    raw_meters = data.get("meters", [])
    if not isinstance(raw_meters, list) or not raw_meters:
        raise ConfigError(
            "the bench config has no [[meters]]; add one per meter with id and kind "
            "(see fixtures/bench.example.toml)"
        )
    meters = tuple(_meter(i, m) for i, m in enumerate(raw_meters))
    ids = [m.meter_id for m in meters]
    if len(set(ids)) != len(ids):
        raise ConfigError(f"meter ids must be unique, got {ids}; rename the duplicates")
    backend = str(bench.get("backend", "native"))
    if backend not in BACKENDS:
        raise ConfigError(f"[bench] backend {backend!r} is unknown; use one of {BACKENDS}")
    return BenchConfig(
        meters=meters,
        baud=_num("[bench] baud", bench.get("baud", 57600), int),
        reset_wait_s=_num("[bench] reset_wait_s", bench.get("reset_wait_s", 2.0), float, zero=True),
        interval_s=_num("[bench] interval_s", bench.get("interval_s", 0.1), float),
        backend=backend,
        source=source,
    )


def _meter(index: int, raw: Any) -> MeterConfig:
    where = f"[[meters]] #{index + 1}"
    if not isinstance(raw, dict) or "id" not in raw:
        raise ConfigError(f"{where} needs at least id (got {raw!r})")
    meter_id = str(raw["id"])
    where = f"meter {meter_id!r}"
    kind = str(raw.get("kind", _inferred_kind(raw)))
    if kind not in KINDS:
        raise ConfigError(f"{where}: kind {kind!r} is unknown; use one of {', '.join(KINDS)}")
    port = raw.get("port")
    if kind in PORT_KINDS and not port:
        raise ConfigError(f"{where}: a {kind} meter needs port (a device path, URL or 'auto')")
    faults = parse_faults(where, raw.get("faults", {}))
    generic = raw.get("generic")
    if kind == "generic" and generic is None:
        generic = {}
    return MeterConfig(
        meter_id=meter_id,
        kind=kind,
        port=str(port) if port else None,
        key=_key(where, raw.get("key")),
        profile=str(raw["profile"]) if raw.get("profile") else None,
        power_w=_num(f"{where} power_w", raw.get("power_w", 0.0), float, zero=True, neg=True),
        faults=faults,
        generic=_generic(where, generic) if generic is not None else None,
    )


def _inferred_kind(raw: dict[str, Any]) -> str:
    """The kind of an entry without ``kind``: generic with a [meters.generic] table, a
    firmware board with a port, else emulated."""
    if "generic" in raw:
        return "generic"
    return "firmata" if raw.get("port") else "emulated"


def _generic(where: str, raw: Any) -> GenericConfig:
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: [meters.generic] must be a table")
    known = GenericConfig.__dataclass_fields__
    unknown = set(raw) - set(known)
    if unknown:
        raise ConfigError(
            f"{where}: unknown generic settings {sorted(unknown)}; known: {list(known)}"
        )
    cfg = GenericConfig(**raw)
    if cfg.direction not in ("import", "export"):
        raise ConfigError(f"{where}: generic direction must be 'import' or 'export'")
    return cfg


def _key(where: str, raw: Any) -> bytes:
    if raw is None:
        return bytes(32)
    try:
        key = bytes.fromhex(str(raw))
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"{where}: key must be 64 hex digits (32 bytes)")
    return key


def _num(name: str, value: Any, typ: type, *, zero: bool = False, neg: bool = False) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ConfigError(f"{name} must be a number (got {value!r})")
    if (value < 0 and not neg) or (value == 0 and not zero):
        raise ConfigError(f"{name} must be {'≥' if zero else '>'} 0 (got {value!r})")
    return typ(value)
