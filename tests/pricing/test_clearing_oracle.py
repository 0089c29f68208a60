"""Every mechanism against the welfare LP (HiGHS) on random and degenerate books.

The default run checks 300 books per property; ``-m slow`` runs 5,000.
"""

from __future__ import annotations

import numpy as np
import pytest
from books import books
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pricing import Order, OrderArrays, Side, clear_uniform, match_continuous, pay_as_clear
from pricing.matching import Matching
from pricing.oracle import welfare_lp

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
# pay-as-clear against the LP: a thousand random books in every default run
ORACLE = settings(max_examples=1000, deadline=None, suppress_health_check=[HealthCheck.too_slow])
THOROUGH = settings(max_examples=5000, deadline=None, suppress_health_check=list(HealthCheck))


def _close(welfare: int, lp: float) -> bool:
    return abs(welfare - lp) <= 1e-7 * max(1.0, abs(lp))


def _check_fills(book: OrderArrays, m: Matching) -> None:
    """No order overfilled, every pair crosses, volume and welfare add up."""
    assert (_fills(book, m) <= book.energy_wh).all()
    assert (m.energy_wh > 0).all()
    assert book.is_bid[m.bid_row].all() and not book.is_bid[m.offer_row].any()
    bid_limit = book.price_wei_per_wh[m.bid_row]
    offer_limit = book.price_wei_per_wh[m.offer_row]
    assert (offer_limit <= m.price_wei_per_wh).all() and (m.price_wei_per_wh <= bid_limit).all()
    assert m.volume_wh == int(m.energy_wh.sum())
    assert m.welfare_wei == int((m.energy_wh * (bid_limit - offer_limit)).sum())


def check_pay_as_clear(orders: list[Order]) -> None:
    book = OrderArrays.from_orders(orders)
    m = clear_uniform(book)
    lp = welfare_lp(book)
    _check_fills(book, m)
    assert _close(m.welfare_wei, lp.welfare_wei)
    assert m.volume_wh == round(lp.max_volume_wh)
    assert m.volume_wh >= lp.volume_wh - 1e-6
    if m.volume_wh:
        assert m.clearing_price_wei_per_wh is not None
        assert (m.price_wei_per_wh == m.clearing_price_wei_per_wh).all()
    else:
        assert m.clearing_price_wei_per_wh is None
    clearing = pay_as_clear(orders)
    assert sum(t.energy_wh for t in clearing.trades) == clearing.volume_wh == m.volume_wh
    by_sorting = clear_uniform(book, method="sort")
    by_levels = clear_uniform(book, method="levels")
    for other in (by_sorting, by_levels):
        assert other.volume_wh == m.volume_wh and other.welfare_wei == m.welfare_wei
        assert other.clearing_price_wei_per_wh == m.clearing_price_wei_per_wh
        assert (_fills(book, other) == _fills(book, m)).all()


def _fills(book: OrderArrays, m: Matching) -> np.ndarray:
    rows = np.concatenate((m.bid_row, m.offer_row))
    return np.bincount(rows, np.concatenate((m.energy_wh, m.energy_wh)), minlength=len(book))


def check_continuous(orders: list[Order], *, one_sided: bool, same_time: bool) -> None:
    book = OrderArrays.from_orders(orders)
    m = match_continuous(book, one_sided=one_sided)
    lp = welfare_lp(book, max_volume=False)
    _check_fills(book, m)
    paid = book.price_wei_per_wh[m.offer_row if one_sided else m.bid_row]
    assert (m.price_wei_per_wh == paid).all()
    assert m.welfare_wei <= lp.welfare_wei + 1e-7 * max(1.0, lp.welfare_wei)
    if same_time and not one_sided:
        # One call market: greedy matching of the sorted book is welfare-optimal.
        assert _close(m.welfare_wei, lp.welfare_wei)
        assert m.volume_wh == clear_uniform(book).volume_wh


@ORACLE
@given(books())
def test_pay_as_clear_matches_lp(orders: list[Order]) -> None:
    check_pay_as_clear(orders)


@pytest.mark.slow
@THOROUGH
@given(books())
def test_pay_as_clear_matches_lp_thorough(orders: list[Order]) -> None:
    check_pay_as_clear(orders)


@FAST
@given(books(times=st.just(0.0)), st.booleans())
def test_continuous_one_call_market(orders: list[Order], one_sided: bool) -> None:
    check_continuous(orders, one_sided=one_sided, same_time=True)


@FAST
@given(books(), st.booleans())
def test_continuous_with_arrivals(orders: list[Order], one_sided: bool) -> None:
    check_continuous(orders, one_sided=one_sided, same_time=False)


@pytest.mark.slow
@THOROUGH
@given(books(), st.booleans())
def test_continuous_thorough(orders: list[Order], one_sided: bool) -> None:
    same_time = len({o.time_s for o in orders}) <= 1
    check_continuous(orders, one_sided=one_sided, same_time=same_time)


@FAST
@given(books())
def test_priority_matches_a_plain_sort(orders: list[Order]) -> None:
    book = OrderArrays.from_orders(orders)
    for bids, sign in ((True, -1), (False, 1)):
        rows = [i for i, o in enumerate(orders) if (o.side is Side.BID) == bids]
        expected = sorted(
            rows, key=lambda i: (sign * orders[i].price_wei_per_wh, orders[i].time_s, i)
        )
        assert book.priority(bids=bids).tolist() == expected
