"""Text made from the schema: the key reference (``docs/config.md``) and a resolved config."""

from __future__ import annotations

import dataclasses
import enum
import math
from pathlib import Path
from typing import Any

from bench.config import tables
from bench.config.model import ScenarioConfig
from bench.config.schema import REQUIRED, Key, Table

_HEADER = """\
# Bench config reference

Generated from `bench/config/tables.py` by `gridbench config reference`; do not edit
(a test compares this file with the generated text). Every table and key is checked when
a config is read: unknown keys are rejected with the nearest valid name, numbers must be
finite and in range, and the market's pricing objects are built before anything starts.
`gridbench config check FILE` prints a config with every default filled in.

Paths are relative to the config file. Key files must exist with mode 0600.
"""


def reference_markdown() -> str:
    """The Markdown reference of every table and key."""
    parts = [_HEADER]
    for table in tables.DOCUMENT.tables:
        parts.append(_table_markdown(table))
        parts.extend(_table_markdown(sub) for sub in table.tables)
    return "\n".join(parts)


def _table_markdown(table: Table) -> str:
    title = f"[[{table.name}]]" if table.array else f"[{table.name}]"
    lines = [f"## `{title}`", "", table.doc, ""]
    if table.renamed:
        renamed = ", ".join(f"`{old}` → `{new}`" for old, new in table.renamed.items())
        lines += [f"Renamed keys (the old names are rejected): {renamed}.", ""]
    lines += ["| key | type | unit | default | range | meaning |", "|---|---|---|---|---|---|"]
    lines += [
        f"| `{k.name}` | {k.kind} | {k.unit} | {_default(k)} | {k.range_text()} | {k.doc} |"
        for k in table.keys
    ]
    return "\n".join(lines) + "\n"


def _default(key: Key) -> str:
    if key.default is REQUIRED:
        return "required"
    if key.default is None:
        return "none"
    return f"`{_toml(key.default)}`"


def resolved_toml(config: ScenarioConfig) -> str:
    """The resolved config as TOML, every default filled in; relay keys are not shown."""
    cfg, bench = config, config.bench
    out = [f"# resolved from {cfg.source}" if cfg.source else "# resolved config"]
    out.append(_section(tables.BENCH, dataclasses.asdict(bench)))
    scenario = {k.name: getattr(cfg, k.name) for k in tables.SCENARIO.keys}
    out.append(_section(tables.SCENARIO, scenario))
    out.append(_section(tables.MARKET, dataclasses.asdict(cfg.market)))
    chain = {k.name: getattr(cfg, k.name, None) for k in tables.CHAIN.keys}
    out.append(_section(tables.CHAIN, {**chain, "url": cfg.chain_url or ""}))
    for m in bench.meters:
        values = {**dataclasses.asdict(m), "id": m.meter_id, "key": None}
        out.append(_section(tables.METERS, values))
        if any(m.key):
            out.append("# key = (set; not shown)")
        if m.emulated:
            out.append(_section(tables.FAULTS, dataclasses.asdict(m.faults)))
        if m.generic is not None:
            out.append(_section(tables.GENERIC, dataclasses.asdict(m.generic)))
    for p in cfg.participants:
        values = {**dataclasses.asdict(p.agent), "name": p.agent.participant}
        flexible = p.agent.flexible
        if flexible is not None:
            values |= {
                "flexible_energy_wh": flexible.energy_wh,
                "flexible_power_w": flexible.power_w,
                "flexible_first": flexible.first,
                "flexible_last": flexible.last,
            }
        out.append(
            _section(
                tables.PARTICIPANTS,
                {**values, "meter": p.meter_id, "key_file": p.key_file, "area": p.area},
            )
        )
    for s in cfg.sessions:
        out.append(_section(tables.SESSIONS, {**dataclasses.asdict(s), "meter": s.meter_id}))
    if cfg.grid is not None:
        out.append(_section(tables.GRID, dataclasses.asdict(cfg.grid)))
    if cfg.battery is not None:
        battery = {**dataclasses.asdict(cfg.battery), "meter": cfg.battery.meter_id}
        out.append(_section(tables.BATTERY, battery))
    if bench.arrays or bench.loads:
        out.append(_section(tables.SITE, dataclasses.asdict(bench.site)))
    for a in bench.arrays:
        out.append(_section(tables.ARRAYS, {**dataclasses.asdict(a), "meter": a.meter_id}))
    for x in bench.loads:
        out.append(_section(tables.LOADS, {**dataclasses.asdict(x), "meter": x.meter_id}))
    for c in bench.calendar:
        out.append(_section(tables.CALENDAR, dataclasses.asdict(c)))
    return "\n".join(out) + "\n"


def _section(table: Table, values: dict[str, Any]) -> str:
    head = f"[[{table.name}]]" if table.array else f"[{table.name}]"
    body = [
        f"{k.name} = {_toml(values[k.name])}" for k in table.keys if values.get(k.name) is not None
    ]
    return "\n".join(["", head, *body])


def _toml(value: Any) -> str:
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, enum.Enum):
        return _toml(value.value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if math.isfinite(value) else str(value)
    if isinstance(value, Path):
        return _toml(str(value))
    if isinstance(value, tuple):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    text = str(value).replace("\\", "\\\\").replace('"', '\\"')
    return f'"{text}"'
