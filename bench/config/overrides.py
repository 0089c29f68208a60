"""Parameter overrides of a bench config: ``table.key`` paths applied to the TOML document.

The panel's parameter form, the run queue, the pytest plugin's ``run_scenario`` and
``gridbench run --from`` all vary a config the same way: a mapping from a path to a
value, applied to the parsed document before it is checked, so every override goes
through the same schema and cross-checks as the file itself.

Paths: ``scenario.intervals``, ``market.mechanism`` (any key of a plain table),
``faults.drop_rate`` (a fault of every emulated meter) and ``participants.NAME.strategy``
(one participant's bidding strategy).
"""

from __future__ import annotations

import copy
import tomllib
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from bench.config import tables
from bench.config.load import parse_scenario
from bench.config.model import ScenarioConfig
from bench.config.schema import Table, check, suggest
from bench.errors import ConfigError

FAULTS_PATH = "faults"
"""The prefix of an override that applies to every emulated meter's faults."""


def plain_tables() -> tuple[Table, ...]:
    """The tables whose keys can be overridden by ``table.key`` (not arrays of tables)."""
    return tuple(t for t in tables.DOCUMENT.tables if not t.array)


PARTICIPANTS_PATH = "participants"
"""The prefix of an override of one participant's key: ``participants.NAME.strategy``."""
PARTICIPANT_KEYS = ("strategy",)
"""The keys of a participant that are parameters of a run."""

FILE_ONLY_TABLES = ("bench", "chain")
"""Tables about the bench's wiring, not the experiment: not parameters of a run."""


def parameter_tables() -> list[tuple[str, Table]]:
    """(path prefix, table) of a run's parameters, in schema order: every plain table
    but the wiring's, then the faults of the emulated meters."""
    groups = [(t.name, t) for t in plain_tables() if t.name not in FILE_ONLY_TABLES]
    return [*groups, (FAULTS_PATH, tables.FAULTS)]


def parameter_values(data: Mapping[str, Any]) -> dict[str, Any]:
    """Every parameter's value in a parsed document (the schema's default where absent):
    ``{'scenario.intervals': 96, …}``; faults are the first emulated meter's."""
    out: dict[str, Any] = {}
    for prefix, table in parameter_tables():
        raw = _first_faults(data) if prefix == FAULTS_PATH else data.get(table.name, {})
        resolved = check(table, raw if isinstance(raw, dict) else {}, table.name, [])
        for key in table.keys:
            out[f"{prefix}.{key.name}"] = resolved.get(key.name)
    for name, raw in _participants(data).items():
        resolved = check(tables.PARTICIPANTS, raw, PARTICIPANTS_PATH, [])
        for key_name in PARTICIPANT_KEYS:
            out[f"{PARTICIPANTS_PATH}.{name}.{key_name}"] = resolved.get(key_name)
    return out


def _participants(data: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The document's participants by name (entries without a name are the schema's to
    report)."""
    return {
        str(p["name"]): p
        for p in data.get("participants", [])
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    }


def given_parameters(data: Mapping[str, Any]) -> set[str]:
    """The parameters a parsed document sets itself (the others take their default)."""
    given: set[str] = set()
    for prefix, table in parameter_tables():
        raw = _first_faults(data) if prefix == FAULTS_PATH else data.get(table.name, {})
        if isinstance(raw, dict):
            given.update(f"{prefix}.{k.name}" for k in table.keys if k.name in raw)
    for name, raw in _participants(data).items():
        given.update(f"{PARTICIPANTS_PATH}.{name}.{k}" for k in PARTICIPANT_KEYS if k in raw)
    return given


def _first_faults(data: Mapping[str, Any]) -> dict[str, Any]:
    for meter in data.get("meters", []):
        if _is_emulated(meter) and isinstance(meter.get("faults"), dict):
            return dict(meter["faults"])
    return {}


def override_key_names() -> list[str]:
    """Every valid override path."""
    names = [f"{t.name}.{k.name}" for t in plain_tables() for k in t.keys]
    return names + [f"{FAULTS_PATH}.{k.name}" for k in tables.FAULTS.keys]


def apply_overrides(data: Mapping[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of the parsed document ``data`` with ``overrides`` written into it."""
    out: dict[str, Any] = copy.deepcopy(dict(data))
    valid = override_key_names()
    for path, value in overrides.items():
        if path.startswith(f"{PARTICIPANTS_PATH}."):
            _participant_override(out, path, value)
            continue
        if path not in valid:
            raise ConfigError(f"unknown parameter {path!r}; {suggest(path, valid, 'parameters')}")
        table, _, key = path.partition(".")
        if table == FAULTS_PATH:
            for meter in out.get("meters", []):
                if _is_emulated(meter):
                    meter.setdefault("faults", {})[key] = value
        else:
            out.setdefault(table, {})[key] = value
    return out


def _participant_override(data: dict[str, Any], path: str, value: Any) -> None:
    """Write ``participants.NAME.KEY`` into that participant's entry of ``data``."""
    name, _, key = path.removeprefix(f"{PARTICIPANTS_PATH}.").rpartition(".")
    people = _participants(data)
    if key not in PARTICIPANT_KEYS:
        choices = [f"{PARTICIPANTS_PATH}.{name or 'NAME'}.{k}" for k in PARTICIPANT_KEYS]
        raise ConfigError(f"unknown parameter {path!r}; {suggest(path, choices, 'parameters')}")
    if name not in people:
        raise ConfigError(
            f"parameter {path!r}: no participant {name!r}; "
            f"{suggest(name, list(people), 'participants')}"
        )
    people[name][key] = value


def _is_emulated(meter: Any) -> bool:
    if not isinstance(meter, dict):
        return False
    kind = meter.get("kind")
    return kind == "emulated" or (kind is None and "port" not in meter and "generic" not in meter)


def load_with_overrides(
    path: Path | str, overrides: Mapping[str, Any] | None = None, text: str | None = None
) -> ScenarioConfig:
    """Read a bench config (or its ``text``), apply ``overrides`` and check the result.

    The returned config keeps the file's text and the overrides (``source_text``,
    ``overrides``), which the journal stores so a run can be reproduced.
    """
    path = Path(path)
    if text is None:
        try:
            text = path.read_text()
        except FileNotFoundError as exc:
            raise ConfigError(
                f"bench config {path} does not exist; pick an existing TOML file"
            ) from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"bench config {path} is not valid TOML: {exc}; fix the file") from exc
    given = dict(overrides or {})
    config = parse_scenario(apply_overrides(data, given), source=path)
    return replace(config, source_text=text, overrides=tuple(sorted(given.items())))


RUN_MODES = ("market", "conventional")
"""How a scenario runs: ``market``, its config's local market; ``conventional``, the
counterfactual without one (``gridbench run --mode``, the panel's mode)."""


def mode_overrides(mode: str) -> dict[str, Any]:
    """The overrides that run a config in ``mode``: ``conventional`` is the same scenario
    with no local market (``[market] mechanism = "utility"``: everyone buys from and sells
    to the ``[grid]`` at its tariffs)."""
    if mode not in RUN_MODES:
        raise ConfigError(f"no run mode {mode!r}; pick one of {', '.join(RUN_MODES)}")
    return {"market.mechanism": "utility"} if mode == "conventional" else {}
