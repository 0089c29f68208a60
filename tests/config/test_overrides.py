"""Parameter overrides as the panel's queue, ``run_scenario`` and ``--from`` write them:
``table.key``, ``faults.key`` and ``participants.NAME.strategy``, checked by the schema."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from bench.config import load_with_overrides
from bench.config.overrides import apply_overrides, given_parameters, parameter_values
from bench.errors import ConfigError

CONFIG = """
[scenario]
intervals = 4

[[meters]]
id = "roof"
kind = "emulated"
power_w = -3000.0

[[meters]]
id = "flat"
kind = "emulated"
power_w = 2000.0

[[participants]]
name = "roof"
role = "prosumer"
meter = "roof"
strategy = "zip"

[[participants]]
name = "flat"
role = "consumer"
meter = "flat"
"""


@pytest.fixture
def path(tmp_path: Path) -> Path:
    out = tmp_path / "lab.toml"
    out.write_text(CONFIG)
    return out


def test_a_participants_strategy_is_a_parameter(path: Path) -> None:
    config = load_with_overrides(path, {"participants.flat.strategy": "signal"})
    assert {p.agent.participant: p.agent.strategy for p in config.participants} == {
        "roof": "zip",
        "flat": "signal",
    }
    document = tomllib.loads(CONFIG)
    values = parameter_values(document)
    assert values["participants.roof.strategy"] == "zip"
    assert values["participants.flat.strategy"] == "fixed"  # the schema's default
    assert values["scenario.intervals"] == 4
    given = given_parameters(document)
    assert "participants.roof.strategy" in given and "participants.flat.strategy" not in given
    assert "scenario.intervals" in given and "scenario.speed" not in given
    # the override is written into a copy: the parsed document is left as it was
    apply_overrides(document, {"participants.flat.strategy": "zip"})
    assert "strategy" not in document["participants"][1]


@pytest.mark.parametrize(
    ("path_", "value", "message"),
    [
        ("participants.flt.strategy", "zip", "no participant 'flt'; did you mean 'flat'?"),
        ("participants.flat.strategi", "zip", "did you mean 'participants.flat.strategy'?"),
        ("participants.flat.strategy", "greedy", "strategy"),
    ],
)
def test_a_bad_participant_override_says_what_to_fix(
    path: Path, path_: str, value: str, message: str
) -> None:
    with pytest.raises(ConfigError, match=message.replace("?", r"\?").replace(".", r"\.")):
        load_with_overrides(path, {path_: value})
