"""The declarative schema on its own: each failure class, and what it accepts."""

from __future__ import annotations

import math
from typing import Any

import pytest

from bench.config.schema import REQUIRED, Key, Table, check

TABLE = Table(
    "market",
    "a test table",
    (
        Key("mechanism", "str", "pay_as_clear", "rule", choices=("pay_as_clear", "pay_as_bid")),
        Key("tax_rate", "float", 0.1, "tax", "fraction", 0.0, 1.0, high_open=True),
        Key("count", "int", 3, "how many", "", 1, 10),
        Key("name", "str", REQUIRED, "a name"),
        Key("flag", "bool", False, "a flag"),
    ),
    renamed={"interval_s": "market_interval_s"},
)


def resolve(raw: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    errors: list[str] = []
    return check(TABLE, raw, "[market]", errors), errors


def test_defaults_fill_what_is_absent() -> None:
    values, errors = resolve({"name": "x"})
    assert errors == []
    assert values == {
        "mechanism": "pay_as_clear",
        "tax_rate": 0.1,
        "count": 3,
        "name": "x",
        "flag": False,
    }


def test_an_int_is_accepted_for_a_float_and_converted() -> None:
    values, errors = resolve({"name": "x", "tax_rate": 0})
    assert errors == [] and type(values["tax_rate"]) is float


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            {"mechanizm": "pay_as_bid"},
            "unknown key 'mechanizm' in [market]; did you mean 'mechanism'?",
        ),
        (
            {"zzz": 1},
            "unknown key 'zzz' in [market]; valid keys: mechanism, tax_rate, count, name, flag",
        ),
        (
            {"interval_s": 9},
            "[market]: 'interval_s' was renamed; write 'market_interval_s' instead",
        ),
        (
            {"tax_rate": "0.5"},
            "[market] tax_rate must be a number (got '0.5'); write 0.5 without quotes",
        ),
        ({"tax_rate": True}, "[market] tax_rate must be a number (got True)"),
        ({"tax_rate": math.nan}, "[market] tax_rate must be a finite number (got nan)"),
        ({"tax_rate": -math.inf}, "[market] tax_rate must be a finite number (got -inf)"),
        ({"tax_rate": 1.0}, "[market] tax_rate must be a fraction in [0, 1) (got 1.0)"),
        ({"tax_rate": -0.01}, "[market] tax_rate must be a fraction in [0, 1) (got -0.01)"),
        ({"count": 2.5}, "[market] count must be a whole number (got 2.5)"),
        ({"count": 11}, "[market] count must be in [1, 10] (got 11)"),
        ({"count": 2**62}, f"[market] count must be in [1, 10] (got {2**62})"),
        (
            {"mechanism": "pay_as_bidd"},
            "[market] mechanism 'pay_as_bidd' is unknown; did you mean 'pay_as_bid'?",
        ),
        ({"flag": 1}, "[market] flag must be true or false (got 1)"),
    ],
)
def test_each_failure_names_the_key_and_the_fix(raw: dict[str, Any], message: str) -> None:
    _values, errors = resolve({"name": "x", **raw})
    assert errors == [message]


def test_a_required_key_and_every_error_are_reported_together() -> None:
    _values, errors = resolve({"count": 0, "tax_rate": 2.0})
    assert errors == [
        "[market] tax_rate must be a fraction in [0, 1) (got 2.0)",
        "[market] count must be in [1, 10] (got 0)",
        "[market] needs 'name' (a name)",
    ]


def test_the_bounds_themselves_follow_the_declared_openness() -> None:
    assert resolve({"name": "x", "tax_rate": 0.0})[1] == []
    assert resolve({"name": "x", "count": 1})[1] == []
    assert resolve({"name": "x", "count": 10})[1] == []
    assert resolve({"name": "x", "tax_rate": math.nextafter(1.0, 0.0)})[1] == []
