"""Orders, columns, priority and the curves."""

from __future__ import annotations

import numpy as np
import pytest

from pricing import (
    Order,
    OrderArrays,
    PricingInputError,
    Side,
    Trade,
    clear_uniform,
    demand_curve,
    pay_as_clear,
    supply_curve,
)


def test_trade_value_is_exact_beyond_float_precision() -> None:
    trade = Trade("b", "s", 10**12, 10**6 - 1)
    assert trade.value_wei == 10**18 - 10**12
    assert isinstance(trade.value_wei, int)


@pytest.mark.parametrize(
    ("energy", "price", "words"),
    [(0, 100, "energy_wh"), (1.5, 100, "integer"), (10, -1, "price_wei_per_wh"), (True, 1, "int")],
)
def test_bad_orders_are_refused_with_a_reason(energy: object, price: object, words: str) -> None:
    with pytest.raises(PricingInputError, match=words):
        Order("p", Side.BID, energy, price)  # type: ignore[arg-type]


def test_columns_must_have_one_entry_per_order() -> None:
    with pytest.raises(PricingInputError, match="shape"):
        OrderArrays.from_columns(["a"], [0, 0], [True], [1, 1], [1, 1])  # type: ignore[arg-type]


def test_priority_breaks_ties_by_time_then_input_order() -> None:
    orders = [
        Order("late", Side.BID, 1, 200, time_s=5.0),
        Order("first", Side.BID, 1, 200, time_s=1.0),
        Order("second", Side.BID, 1, 200, time_s=1.0),
        Order("rich", Side.BID, 1, 300, time_s=9.0),
        Order("o1", Side.OFFER, 1, 100, time_s=2.0),
        Order("o0", Side.OFFER, 1, 100, time_s=0.0),
    ]
    book = OrderArrays.from_orders(orders)
    names = [orders[i].participant for i in book.priority(bids=True)]
    assert names == ["rich", "first", "second", "late"]
    assert [orders[i].participant for i in book.priority(bids=False)] == ["o0", "o1"]


def test_curves_are_steps_for_pyqtgraph_center_mode() -> None:
    orders = [
        Order("a", Side.BID, 10, 300),
        Order("b", Side.BID, 5, 200),
        Order("c", Side.BID, 7, 300),
        Order("d", Side.OFFER, 8, 100),
        Order("e", Side.OFFER, 10, 250),
    ]
    x, y = demand_curve(orders)
    assert x.tolist() == [0.0, 17.0, 22.0]  # equal prices merge into one step
    assert y.tolist() == [300, 200]
    x, y = supply_curve(orders)
    assert x.tolist() == [0.0, 8.0, 18.0]
    assert y.tolist() == [100, 250]
    assert x.shape == (y.shape[0] + 1,)


def test_empty_side_gives_a_single_edge() -> None:
    x, y = supply_curve([Order("a", Side.BID, 3, 10)])
    assert x.tolist() == [0.0]
    assert y.size == 0


def test_pay_as_clear_worked_example() -> None:
    # demand 10@300, 5@200; supply 8@100, 10@250. Units 1..10 cross (300 ≥ 100, 300 ≥ 250),
    # unit 11 does not (200 < 250): marginal bid 300, marginal offer 250.
    orders = [
        Order("a", Side.BID, 10, 300),
        Order("b", Side.BID, 5, 200),
        Order("c", Side.OFFER, 8, 100),
        Order("d", Side.OFFER, 10, 250),
    ]
    clearing = pay_as_clear(orders)
    # Q = 10 (a's bid against c and 2 Wh of d). d's offer serves units 10 and 11 and b's
    # bid unit 11: p_lo = max(250, 200), p_hi = min(300, 250), so 250 is the only
    # market-clearing price (at 275 d would sell all 10 Wh; the midpoint is not an equilibrium).
    assert clearing.volume_wh == 10
    assert clearing.price_wei_per_wh == 250
    assert clearing.trades == (Trade("a", "c", 8, 250), Trade("a", "d", 2, 250))
    assert clearing.welfare_wei == 8 * 200 + 2 * 50
    assert clearing.value_wei == 10 * 250


def test_no_crossing_clears_nothing() -> None:
    clearing = pay_as_clear([Order("a", Side.BID, 5, 99), Order("b", Side.OFFER, 5, 100)])
    assert (clearing.price_wei_per_wh, clearing.volume_wh, clearing.trades) == (None, 0, ())


def test_array_and_dataclass_apis_agree() -> None:
    rng = np.random.default_rng(7)
    n = 200
    orders = [
        Order(f"p{i % 9}", Side.BID if rng.random() < 0.5 else Side.OFFER, int(e), int(p))
        for i, (e, p) in enumerate(
            zip(rng.integers(1, 50, n), rng.integers(100, 400, n), strict=True)
        )
    ]
    book = OrderArrays.from_orders(orders)
    assert pay_as_clear(book) == pay_as_clear(orders)


def test_wide_price_span_takes_the_sorting_path_with_the_same_result() -> None:
    orders = [
        Order("a", Side.BID, 10, 900_000),
        Order("b", Side.BID, 5, 200),
        Order("c", Side.OFFER, 8, 100),
        Order("d", Side.OFFER, 10, 250),
    ]
    book = OrderArrays.from_orders(orders)
    auto, levels = clear_uniform(book), clear_uniform(book, method="levels")
    assert (auto.volume_wh, auto.clearing_price_wei_per_wh) == (10, 250)
    assert (levels.volume_wh, levels.clearing_price_wei_per_wh) == (10, 250)
    assert auto.price_range == levels.price_range == (250, 250)
    with pytest.raises(PricingInputError, match="method"):
        clear_uniform(book, method="magic")
