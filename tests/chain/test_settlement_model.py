"""Property: on chain, a settled interval equals a sequential reference model."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.chain import Anvil, Market
from pricing import Trade
from tests.chain.conftest import Meters

pytestmark = pytest.mark.chain

NAMES = ("ann", "ben", "cat", "dan")
_interval = itertools.count(1)

trades_st = st.lists(
    st.builds(
        Trade,
        buyer=st.sampled_from(NAMES),
        seller=st.sampled_from(NAMES),
        energy_wh=st.integers(1, 4000),  # a 0 Wh trade needs no order and gets none
        price_wei_per_wh=st.integers(0, 400),
    ),
    max_size=40,
)


def model(balances: dict[str, int], trades: list[Trade]) -> tuple[dict[str, int], list[str | None]]:
    """Pay if you can, else reject: the contract's rule, in plain Python."""
    after = dict(balances)
    verdicts: list[str | None] = []
    for t in trades:
        if t.buyer == t.seller:
            verdicts.append("self trade")
        elif after[t.buyer] < t.value_wei:
            verdicts.append("insufficient balance")
        else:
            after[t.buyer] -= t.value_wei
            after[t.seller] += t.value_wei
            verdicts.append(None)
    return after, verdicts


@pytest.fixture(scope="module")
def shared_market(anvil: Anvil) -> tuple[Market, Meters]:
    market = Market.deploy(anvil.url)
    market.add_participants(NAMES, 400_000)
    return market, Meters(market, NAMES)


def check(shared: tuple[Market, Meters], trades: list[Trade]) -> None:
    """Every participant signs what covers its trades and its meter attests 200 kWh more
    each way: the only reasons left are the model's."""
    market, meters = shared
    before = {n: market.balance_wei(n) for n in NAMES}
    expected, verdicts = model(before, trades)
    s = market.settle_interval(next(_interval), trades, meters.next(200_000))
    assert {n: market.balance_wei(n) for n in NAMES} == expected
    assert [why for _, why in s.rejected_trades] == [v for v in verdicts if v is not None]
    assert list(s.settled_trades) == [t for t, v in zip(trades, verdicts, strict=True) if v is None]
    assert s.value_settled_wei == sum(t.value_wei for t in s.settled_trades)
    assert market.total_holdings_wei() == sum(expected.values())


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(trades=trades_st)
def test_settlement_matches_model(
    shared_market: tuple[Market, Meters], trades: list[Trade]
) -> None:
    check(shared_market, trades)


@pytest.mark.slow
@settings(
    max_examples=500, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(trades=trades_st)
def test_settlement_matches_model_long(
    shared_market: tuple[Market, Meters], trades: list[Trade]
) -> None:
    check(shared_market, trades)
