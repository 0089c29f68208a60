"""A small declarative schema for TOML tables: keys with type, unit, default and range.

:func:`check` resolves one table against its :class:`Table`: every key is known (an
unknown one is reported with the nearest valid name), of the right type, finite and in
range; absent keys take their default. Errors are collected, not raised one by one, so
a config check lists them all.
"""

from __future__ import annotations

import difflib
import itertools
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.errors import ConfigError

REQUIRED: Any = object()
"""Default of a key that must be given."""


@dataclass(frozen=True)
class Key:
    """One key: ``kind`` is int, float, str, bool, path, hex32 (64 hex digits) or schedule
    (``[[start_hour, wei_per_wh], ...]``, start hours ascending from 0, below 24)."""

    name: str
    kind: str
    default: Any
    doc: str
    unit: str = ""
    low: float | None = None
    high: float | None = None
    low_open: bool = False
    high_open: bool = False
    choices: tuple[str, ...] = ()
    renamed_choices: Mapping[str, str] = field(default_factory=dict)

    def range_text(self) -> str:
        """The accepted values, e.g. ``(0, 1)`` or ``native | pyfirmata2``."""
        if self.choices:
            return ", ".join(self.choices)
        if self.low is None and self.high is None:
            return ""
        low = "-∞" if self.low is None else _number(self.low)
        high = "∞" if self.high is None else _number(self.high)
        left = "(" if self.low_open or self.low is None else "["
        right = ")" if self.high_open or self.high is None else "]"
        return f"{left}{low}, {high}{right}"


@dataclass(frozen=True)
class Table:
    """A TOML table (``array``: an array of tables) with its keys and sub-tables."""

    name: str
    doc: str
    keys: tuple[Key, ...]
    tables: tuple[Table, ...] = ()
    array: bool = False
    renamed: Mapping[str, str] = field(default_factory=dict)

    def names(self) -> list[str]:
        """Every valid key and sub-table name."""
        return [k.name for k in self.keys] + [t.name.rpartition(".")[2] for t in self.tables]


def check(table: Table, raw: Any, where: str, errors: list[str]) -> dict[str, Any]:
    """Resolve ``raw`` (one table) against ``table``; append problems to ``errors``."""
    if not isinstance(raw, dict):
        errors.append(f"{where} must be a table (got {raw!r})")
        return {}
    out: dict[str, Any] = {}
    subtables = {t.name.rpartition(".")[2]: t for t in table.tables}
    for name in raw:
        if name in table.renamed:
            errors.append(f"{where}: {name!r} was renamed; write {table.renamed[name]!r} instead")
        elif name not in subtables and name not in {k.name for k in table.keys}:
            errors.append(_unknown(name, where, table.names()))
    for key in table.keys:
        if key.name not in raw:
            if key.default is REQUIRED:
                errors.append(f"{where} needs {key.name!r} ({key.doc})")
            out[key.name] = None if key.default is REQUIRED else key.default
            continue
        value, problem = _value(key, raw[key.name])
        if problem:
            errors.append(f"{where} {key.name} {problem}")
        out[key.name] = value
    for name, sub in subtables.items():
        if name in raw:
            out[name] = check(sub, raw[name], f"{where} {name}", errors)
    return out


def check_array(
    table: Table, raw: Any, errors: list[str], label: str = "id"
) -> list[dict[str, Any]]:
    """Resolve an array of tables; each entry is named by its ``label`` key in messages."""
    if raw is None:
        return []
    if not isinstance(raw, list):
        errors.append(f"[[{table.name}]] must be an array of tables (got {raw!r})")
        return []
    out = []
    for i, entry in enumerate(raw):
        name = entry.get(label) if isinstance(entry, dict) else None
        where = f"[[{table.name}]] #{i + 1}" + (f" ({name!r})" if name is not None else "")
        out.append(check(table, entry, where, errors))
    return out


def suggest(name: str, valid: list[str], what: str = "keys") -> str:
    """``did you mean 'x'?`` for the nearest valid name, else the list of valid names."""
    near = difflib.get_close_matches(name, valid, n=1, cutoff=0.6)
    return f"did you mean {near[0]!r}?" if near else f"valid {what}: {', '.join(valid)}"


def _unknown(name: str, where: str, valid: list[str]) -> str:
    return f"unknown key {name!r} in {where}; {suggest(name, valid)}"


def _value(key: Key, value: Any) -> tuple[Any, str | None]:
    kind = key.kind
    if kind == "bool":
        return value, None if isinstance(value, bool) else f"must be true or false (got {value!r})"
    if kind == "schedule":
        return _schedule(value)
    if kind in ("str", "path", "hex32"):
        if not isinstance(value, str):
            return value, f"must be a string (got {value!r})"
        if kind == "hex32":
            return _hex32(value)
        if value in key.renamed_choices:
            return value, f"{value!r} was renamed; write {key.renamed_choices[value]!r}"
        if key.choices and value not in key.choices:
            hint = suggest(value, list(key.choices), "values")
            return value, f"{value!r} is unknown; {hint}"
        return value, None
    if isinstance(value, bool) or not isinstance(value, int | float):
        hint = f"; write {value} without quotes" if _numeric(value) else ""
        return value, f"must be a number (got {value!r}){hint}"
    if kind == "int" and not isinstance(value, int):
        return value, f"must be a whole number (got {value!r})"
    if not math.isfinite(value):
        return value, f"must be a finite number (got {value!r})"
    low_ok = key.low is None or (value > key.low if key.low_open else value >= key.low)
    high_ok = key.high is None or (value < key.high if key.high_open else value <= key.high)
    if not (low_ok and high_ok):
        if key.unit == "fraction":
            return value, f"must be a fraction in {key.range_text()} (got {value!r})"
        unit = f" {key.unit}" if key.unit else ""
        return value, f"must be in {key.range_text()}{unit} (got {value!r})"
    return (int(value) if kind == "int" else float(value)), None


def _numeric(value: Any) -> bool:
    try:
        float(value)
    except (TypeError, ValueError):
        return False
    return isinstance(value, str)


def _schedule(value: Any) -> tuple[Any, str | None]:
    hint = "must be [[start_hour, wei_per_wh], ...] with hours ascending from 0, below 24"
    if not isinstance(value, list):
        return value, f"{hint} (got {value!r})"
    if not value:  # none (a tariff needs one: the tariff object says so)
        return (), None
    pairs = []
    for item in value:
        ok = isinstance(item, list) and len(item) == 2
        ok = ok and all(isinstance(x, int | float) and not isinstance(x, bool) for x in item)
        if not ok or not math.isfinite(item[0]) or not isinstance(item[1], int) or item[1] < 0:
            return value, f"{hint}, prices whole wei/Wh ≥ 0 (got {item!r})"
        pairs.append((float(item[0]), int(item[1])))
    hours = [h for h, _ in pairs]
    if hours[0] != 0 or hours[-1] >= 24 or any(b <= a for a, b in itertools.pairwise(hours)):
        return value, f"{hint} (got hours {hours})"
    return tuple(pairs), None


def _hex32(value: str) -> tuple[Any, str | None]:
    try:
        key = bytes.fromhex(value)
    except ValueError:
        key = b""
    if len(key) != 32:
        return value, "must be 64 hex digits (32 bytes)"
    return key, None


def _number(x: float) -> str:
    if float(x).is_integer() and abs(x) < 1e7:
        return str(int(x))
    return f"{x:g}".replace("e+0", "e").replace("e+", "e")


def check_value(table: Table, name: str, value: Any, label: str) -> Any:
    """One value of ``table``'s key ``name`` given elsewhere (say on the command line)."""
    key = next(k for k in table.keys if k.name == name)
    resolved, problem = _value(key, value)
    if problem:
        raise ConfigError(f"{label} {problem}")
    return resolved
