"""The settle gas bound holds, and the largest batch fits one transaction."""

from __future__ import annotations

import pytest

from bench.chain import Anvil, Market
from bench.chain.encoding import MAX_BATCH_PARTICIPANTS, MAX_BATCH_TRADES
from bench.chain.settlement import TX_GAS_CAP, settle_gas_bound
from pricing import Trade
from tests.chain.conftest import Meters

pytestmark = pytest.mark.chain


def ring_trades(names: list[str], count: int) -> list[Trade]:
    k = len(names)
    return [
        Trade(names[i % k], names[(i * 7 + 1 + i // k) % k], 1 + i % 500, 250) for i in range(count)
    ]


def settle_all(
    anvil: Anvil, participants: int, trades: int, deposit_wei: int
) -> tuple[int, int, int]:
    """(gas used, trades sent, trades rejected) of one metered interval."""
    market = Market.deploy(anvil.url)
    names = [f"n{i:03d}" for i in range(participants)]
    market.add_participants(names, deposit_wei)
    batch = [t for t in ring_trades(names, trades) if t.buyer != t.seller]
    s = market.settle_interval(1, batch, Meters(market, tuple(names)).next())
    return s.gas_used, len(batch), len(s.rejected_trades)


def test_contract_and_encoder_agree_on_limits(anvil: Anvil) -> None:
    market = Market.deploy(anvil.url)
    assert market.contract.functions.MAX_BATCH_TRADES().call() == MAX_BATCH_TRADES
    assert market.contract.functions.MAX_BATCH_PARTICIPANTS().call() == MAX_BATCH_PARTICIPANTS


def test_gas_bound_holds_when_every_trade_is_rejected(anvil: Anvil) -> None:
    gas, sent, rejected = settle_all(anvil, 40, 2000, 0)
    assert rejected == sent > 1900
    assert gas <= settle_gas_bound(sent, 40, 0)


@pytest.mark.parametrize("deposit_wei", [10**15, 0], ids=["all-settle", "all-rejected"])
def test_largest_batch_fits_one_transaction(anvil: Anvil, deposit_wei: int) -> None:
    gas, sent, _ = settle_all(anvil, MAX_BATCH_PARTICIPANTS, MAX_BATCH_TRADES, deposit_wei)
    assert sent > MAX_BATCH_TRADES * 0.99
    assert gas < TX_GAS_CAP


def test_a_market_with_more_participants_than_a_settlement_takes_is_refused_at_once() -> None:
    """129 participants cannot settle in one transaction: the run is refused with what to
    do before any node starts or contract is deployed (the mutation: no check, and the
    first settlement fails mid-run)."""
    import tomllib

    from bench.config import parse_scenario
    from bench.errors import ConfigError
    from bench.scenario.settlement import ChainSession
    from tests.configs import consumer, meter_block, run_config

    count = MAX_BATCH_PARTICIPANTS + 1
    text = run_config(
        intervals=1,
        meters=[meter_block(f"m{i}", "emulated", 100.0) for i in range(count)],
        participants=[consumer(f"m{i}", 300) for i in range(count)],
    )
    config = parse_scenario(tomllib.loads(text))
    lines: list[str] = []
    with (
        pytest.raises(ConfigError, match=f"{count} market participants.*at most 128"),
        ChainSession.open(config, lambda _t, _level, line: lines.append(line)),
    ):
        pass
    assert lines == []  # no Anvil started, nothing deployed
