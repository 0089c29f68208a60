"""The run journal keeps what a run recorded and gives it back."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.errors import ConfigError
from bench.store import Journal
from pricing import Order, Side, Trade


def test_round_trip(tmp_path: Path) -> None:
    journal = Journal(tmp_path / "run" / "journal.sqlite")
    journal.set_meta("chain_url", "http://127.0.0.1:8545")
    journal.add_metered(3, "roof", 0.5, 120.25)
    journal.add_feeder(3, -118.0)
    journal.add_orders(3, [Order("roof", Side.OFFER, 120, 80, 2700.0)])
    settled = Trade("flat", "roof", 40, 150)
    rejected = Trade("poor", "roof", 10, 150)
    journal.add_trades(3, [settled], "settled", tx_hash="0xabc")
    journal.add_trades(3, [rejected], "rejected", reasons=["InsufficientBalance"])
    journal.close()

    reopened = Journal(tmp_path / "run" / "journal.sqlite")
    assert reopened.meta("chain_url") == "http://127.0.0.1:8545"
    assert reopened.meta("missing") is None
    assert reopened.metered() == {3: {"roof": (0.5, 120.25)}}
    assert reopened.feeder() == {3: -118.0}
    assert reopened.trades("settled") == [(3, settled)]
    assert reopened.trades("rejected") == [(3, rejected)]
    reopened.close()


def test_unwritable_folder_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="--journal"):
        Journal(blocker / "journal.sqlite")
