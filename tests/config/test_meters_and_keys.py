"""Meter kinds, key files and participants' cross-references in the bench config."""

from __future__ import annotations

import os
import re
import secrets
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.config import load_scenario, parse_bench_config
from bench.errors import ConfigError
from tests.config.conftest import edit


def meters(*entries: dict[str, object]) -> dict[str, object]:
    return {"meters": list(entries)}


@pytest.mark.parametrize(
    ("entry", "kind"),
    [
        ({"id": "a"}, "emulated"),
        ({"id": "a", "port": "/dev/ttyACM0"}, "firmata"),
        ({"id": "a", "port": "/dev/ttyUSB0", "generic": {"relay_pin": 8}}, "generic"),
        ({"id": "a", "kind": "simavr", "power_w": 500.0}, "simavr"),
        ({"id": "a", "kind": "fake", "power_w": 100.0}, "fake"),
    ],
)
def test_kind_is_given_or_inferred(entry: dict[str, object], kind: str) -> None:
    (meter,) = parse_bench_config(meters(entry)).meters
    assert meter.kind == kind
    assert (meter.generic is not None) == (kind == "generic")


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"id": "a", "kind": "real", "port": "x"}, "kind 'real' was renamed; write 'firmata'"),
        ({"id": "a", "kind": "firmata"}, "a firmata meter needs port"),
        ({"id": "a", "kind": "fake", "port": "x"}, "a fake meter has no port"),
        ({"id": "a", "port": "x", "power_w": 5.0}, "a firmata meter measures real power"),
        ({"id": "a", "kind": "simavr", "faults": {"drop_rate": 0.1}}, "faults only apply"),
        ({"id": "a", "kind": "fake", "profile": "pv"}, "a fake meter takes a constant power_w"),
        ({"id": "a", "generic": {}}, "a generic meter needs port"),
        ({"id": "a", "kind": "firmata", "port": "x", "generic": {}}, "needs kind = 'generic'"),
        ({"id": "a", "faults": {"drop_rate": 1.5}}, "faults drop_rate must be a fraction"),
        ({"id": "a", "power_w": 1e12}, "power_w must be in [-1e7, 1e7] W (got 1000000000000.0)"),
    ],
)
def test_meter_entries_that_cannot_work_are_refused(entry: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_bench_config(meters(entry))
    assert message in str(err.value)


def key_file(tmp_path: Path, name: str, mode: int) -> Path:
    path = tmp_path / name
    path.write_text("0x" + secrets.token_hex(32) + "\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize(
    ("where", "old", "new"),
    [
        ("[chain] operator_key_file", "[chain]\n", '[chain]\noperator_key_file = "{key}"\n'),
        (
            "participant 'dorm' key_file",
            'name = "dorm"\n',
            'name = "dorm"\nkey_file = "{key}"\n',
        ),
        (
            "meter 'dorm' relay_key_file",
            'id = "dorm"\n',
            'id = "dorm"\nrelay_key_file = "{key}"\n',
        ),
    ],
)
def test_key_files_must_exist_and_be_private(
    where: str,
    old: str,
    new: str,
    demo_text: str,
    write_config: Callable[[str], Path],
    tmp_path: Path,
) -> None:
    private = key_file(tmp_path, "private.key", 0o600)
    path = write_config(edit(demo_text, old, new.format(key="private.key")))
    assert private in _key_paths(load_scenario(path))  # relative to the config's folder

    key_file(tmp_path, "shared.key", 0o644)
    path = write_config(edit(demo_text, old, new.format(key="shared.key")))
    with pytest.raises(ConfigError) as err:
        load_scenario(path)
    assert str(err.value) == (
        f"{where}: {tmp_path / 'shared.key'} is readable by others (mode 0644); "
        f"run `chmod 600 {tmp_path / 'shared.key'}`"
    )

    path = write_config(edit(demo_text, old, new.format(key="missing.key")))
    missing = re.escape(where) + r": .*missing\.key does not exist; .*chmod 600"
    with pytest.raises(ConfigError, match=missing):
        load_scenario(path)


def _key_paths(config: object) -> set[Path | None]:
    from bench.config import ScenarioConfig

    assert isinstance(config, ScenarioConfig)
    return (
        {config.operator_key_file}
        | {p.key_file for p in config.participants}
        | {m.relay_key_file for m in config.bench.meters}
    )


def test_a_key_file_is_not_a_folder(
    demo_text: str, write_config: Callable[[str], Path], tmp_path: Path
) -> None:
    (tmp_path / "keys").mkdir()
    path = write_config(edit(demo_text, "[chain]\n", '[chain]\noperator_key_file = "keys"\n'))
    with pytest.raises(ConfigError, match="is not a regular file"):
        load_scenario(path)


def test_the_chain_keys_default_to_none_and_false(
    demo_text: str, write_config: Callable[[str], Path]
) -> None:
    config = load_scenario(write_config(demo_text))
    assert _key_paths(config) == {None}
    assert config.allow_well_known_key is False
    allowed = edit(demo_text, "[chain]\n", "[chain]\nallow_well_known_key = true\n")
    assert load_scenario(write_config(allowed)).allow_well_known_key is True
    assert os.stat(write_config(demo_text)).st_size > 0
