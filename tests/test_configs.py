"""The tests' config builder (tests/configs.py) writes the TOML it is given: checked
against hand-written tables, and against the bench's own schema."""

from __future__ import annotations

import tomllib

from bench.config import parse_scenario
from tests.configs import (
    consumer,
    meter_block,
    participant_block,
    prosumer,
    run_config,
    session_block,
    table,
)


def test_a_run_config_is_the_toml_of_its_blocks() -> None:
    text = run_config(
        intervals=3,
        bench={"seed": 7},
        scenario={"feeder_meter": "feeder", "unmetered_load_w": 2000.0},
        sections={
            "chain": {"url": "http://127.0.0.1:8545", "deposit_wei": 50000000},
            "grid": {"import_schedule": [[0, 200]]},
        },
        meters=[
            meter_block("roof", "emulated", -12000.0),
            meter_block("feeder"),
            meter_block("spare", "emulated", faults={"drop_rate": 1.0}),
            meter_block("clinic", "firmata", port="/dev/ttyACM0", allow_default_key=True),
        ],
        participants=[
            prosumer("roof", 80),
            consumer("flat", 300, meter="feeder", key_file=None),
            participant_block("clinic", "responsive", elasticity=0.4),
        ],
        extra=session_block("flat", "roof", "charge-co", tariff_wei_per_wh=200),
    )
    assert tomllib.loads(text) == {
        "bench": {"reading_interval_s": 0.05, "seed": 7},
        "scenario": {
            "market_interval_s": 900,
            "intervals": 3,
            "speed": 3600,
            "feeder_meter": "feeder",
            "unmetered_load_w": 2000.0,
        },
        "chain": {"url": "http://127.0.0.1:8545", "deposit_wei": 50000000},
        "grid": {"import_schedule": [[0, 200]]},
        "meters": [
            {"id": "roof", "kind": "emulated", "power_w": -12000.0},
            {"id": "feeder", "kind": "fake"},
            {"id": "spare", "kind": "emulated", "faults": {"drop_rate": 1.0}},
            {"id": "clinic", "kind": "firmata", "port": "/dev/ttyACM0", "allow_default_key": True},
        ],
        "participants": [
            {"name": "roof", "role": "prosumer", "meter": "roof", "offer_price_wei_per_wh": 80},
            {"name": "flat", "role": "consumer", "meter": "feeder", "bid_price_wei_per_wh": 300},
            {"name": "clinic", "role": "responsive", "meter": "clinic", "elasticity": 0.4},
        ],
        "sessions": [
            {"consumer": "flat", "meter": "roof", "owner": "charge-co", "tariff_wei_per_wh": 200}
        ],
    }


def test_strings_are_quoted_and_escaped() -> None:
    text = table("[t]", {"path": 'C:\\lab "3"', "empty": ""})
    assert tomllib.loads(text) == {"t": {"path": 'C:\\lab "3"', "empty": ""}}


def test_the_bench_reads_a_built_config_as_written() -> None:
    text = run_config(
        intervals=2,
        speed=1800,
        meters=[meter_block("roof", "fake", -8000.0), meter_block("flat", "fake", 3000.0)],
        participants=[prosumer("roof", 70), consumer("flat")],
    )
    config = parse_scenario(tomllib.loads(text))
    assert (config.intervals, config.speed, config.market_interval_s) == (2, 1800, 900)
    assert [(m.meter_id, m.kind, m.power_w) for m in config.bench.meters] == [
        ("roof", "fake", -8000.0),
        ("flat", "fake", 3000.0),
    ]
    assert [p.agent.participant for p in config.participants] == ["roof", "flat"]
