"""``[bench] online_timeout_s``: how long a never-reporting meter may delay a run's start."""

from __future__ import annotations

import tomllib

import pytest

from bench.config import parse_scenario
from bench.errors import ConfigError

BASE = """
[bench]
{line}

[[meters]]
id = "roof"
kind = "fake"

[[participants]]
name = "roof"
meter = "roof"
"""


def _parse(line: str):  # type: ignore[no-untyped-def]
    return parse_scenario(tomllib.loads(BASE.format(line=line)))


def test_the_start_waits_5_s_for_a_silent_meter_unless_configured() -> None:
    assert _parse("").bench.online_timeout_s == 5.0
    assert _parse("online_timeout_s = 0.5").bench.online_timeout_s == 0.5


@pytest.mark.parametrize("value", ["-1", "600"])
def test_an_unbounded_wait_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="online_timeout_s"):
        _parse(f"online_timeout_s = {value}")
