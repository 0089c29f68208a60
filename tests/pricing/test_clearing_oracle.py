"""Every mechanism against the welfare LP (HiGHS) and an enumerated equilibrium.

Pay-as-clear is checked on 1,000 random books per default run (5,000 with ``-m slow``):
welfare and volume against the LP, the price against the competitive-equilibrium
interval enumerated with exact integers (``equilibrium.py``) and against the LP's dual
where that is unique. The other properties check 300 books each.
"""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from books import books
from equilibrium import admits, equilibrium_interval
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
    """No order overfilled, every pair crosses, nobody trades with itself, volume adds up."""
    assert (_fills(book, m) <= book.energy_wh).all()
    assert (m.energy_wh > 0).all()
    assert book.is_bid[m.bid_row].all() and not book.is_bid[m.offer_row].any()
    assert (book.participant[m.bid_row] != book.participant[m.offer_row]).all()
    bid_limit = book.price_wei_per_wh[m.bid_row]
    offer_limit = book.price_wei_per_wh[m.offer_row]
    assert (offer_limit <= m.price_wei_per_wh).all() and (m.price_wei_per_wh <= bid_limit).all()
    assert m.volume_wh == int(m.energy_wh.sum())
    if m.netted_wh == 0:
        assert m.welfare_wei == int((m.energy_wh * (bid_limit - offer_limit)).sum())


def check_pay_as_clear(orders: list[Order], k: Fraction = Fraction(1, 2)) -> None:
    book = OrderArrays.from_orders(orders)
    m = clear_uniform(book, k=k)
    lp = welfare_lp(book)
    _check_fills(book, m)
    cleared = m.volume_wh + m.netted_wh
    assert _close(m.welfare_wei, lp.welfare_wei)
    assert cleared == round(lp.max_volume_wh)
    assert cleared >= lp.volume_wh - 1e-6
    if cleared:
        interval = equilibrium_interval(orders, cleared)
        assert interval is not None, "the cleared volume must be an equilibrium volume"
        low, high = interval
        assert admits(orders, (low + high) // 2, cleared)
        assert not admits(orders, low - 1, cleared) and not admits(orders, high + 1, cleared)
        assert m.price_range == (low, high)
        assert m.clearing_price_wei_per_wh == low + (k * (high - low)).__floor__()
        assert (m.price_wei_per_wh == m.clearing_price_wei_per_wh).all()
        assert lp.dual_price_wei_per_wh is not None
        assert low - 1e-6 <= lp.dual_price_wei_per_wh <= high + 1e-6
        if low == high:  # the dual is unique: it is the price
            assert lp.dual_price_wei_per_wh == pytest.approx(m.clearing_price_wei_per_wh, abs=1e-6)
        _check_own_positions(book, m)
    else:
        assert m.clearing_price_wei_per_wh is None
    clearing = pay_as_clear(orders, k=k)
    assert sum(t.energy_wh for t in clearing.trades) == clearing.volume_wh == m.volume_wh
    assert clearing.netted_wh == m.netted_wh
    by_sorting = clear_uniform(book, method="sort", k=k)
    by_levels = clear_uniform(book, method="levels", k=k)
    for other in (by_sorting, by_levels):
        assert other.volume_wh + other.netted_wh == cleared
        assert other.welfare_wei == m.welfare_wei
        assert other.clearing_price_wei_per_wh == m.clearing_price_wei_per_wh
        assert (_net_positions(book, other) == _net_positions(book, m)).all()


def _net_positions(book: OrderArrays, m: Matching) -> np.ndarray:
    """Energy bought minus sold, per participant, through trades."""
    size = len(book.names)
    bought = np.bincount(book.participant[m.bid_row], m.energy_wh, minlength=size)
    sold = np.bincount(book.participant[m.offer_row], m.energy_wh, minlength=size)
    return bought - sold


def _check_own_positions(book: OrderArrays, m: Matching) -> None:
    """Netting changes nobody's position: the trades give each participant the net of a
    plain greedy allocation (bids by priority against offers by priority, up to Q)."""
    cleared = m.volume_wh + m.netted_wh
    net = np.zeros(len(book.names), dtype=np.int64)
    for rows, sign in ((book.priority(bids=True), 1), (book.priority(bids=False), -1)):
        left = cleared
        for row in rows.tolist():
            take = min(left, int(book.energy_wh[row]))
            net[book.participant[row]] += sign * take
            left -= take
    assert (_net_positions(book, m) == net).all()


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
        uniform = clear_uniform(book)
        assert m.volume_wh + m.netted_wh == uniform.volume_wh + uniform.netted_wh


@ORACLE
@given(books())
def test_pay_as_clear_matches_lp(orders: list[Order]) -> None:
    check_pay_as_clear(orders)


@FAST
@given(books(), st.fractions(0, 1, max_denominator=16))
def test_any_k_stays_in_the_equilibrium_interval(orders: list[Order], k: Fraction) -> None:
    check_pay_as_clear(orders, k)


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
