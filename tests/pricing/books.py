"""Hypothesis strategies for order books, degenerate ones included."""

from __future__ import annotations

from hypothesis import strategies as st

from pricing import Order, Side

_PARTICIPANTS = st.sampled_from(["ann", "bob", "cat", "dan", "eve"])
_SIDES = st.sampled_from([Side.BID, Side.OFFER])


def _orders(
    sides: st.SearchStrategy[Side],
    prices: st.SearchStrategy[int],
    times: st.SearchStrategy[float],
    max_size: int,
) -> st.SearchStrategy[list[Order]]:
    order = st.builds(
        Order,
        participant=_PARTICIPANTS,
        side=sides,
        energy_wh=st.integers(1, 60),
        price_wei_per_wh=prices,
        time_s=times,
    )
    return st.lists(order, min_size=0, max_size=max_size)


def books(times: st.SearchStrategy[float] | None = None) -> st.SearchStrategy[list[Order]]:
    """Random books: general, few price levels (ties), one side only, one order, no crossing,
    short supply (many bids, few offers) and short demand (few bids, many offers)."""
    t = st.sampled_from([0.0, 1.0, 2.0]) if times is None else times
    general = _orders(_SIDES, st.integers(0, 500), t, 40)
    ties = _orders(_SIDES, st.sampled_from([240, 250, 260]), t, 30)
    all_tied = _orders(_SIDES, st.just(250), t, 20)
    one_side = _orders(st.just(Side.BID), st.integers(0, 500), t, 10) | _orders(
        st.just(Side.OFFER), st.integers(0, 500), t, 10
    )
    one_order = _orders(_SIDES, st.integers(0, 500), t, 1)
    no_cross = st.tuples(
        _orders(st.just(Side.BID), st.integers(0, 249), t, 10),
        _orders(st.just(Side.OFFER), st.integers(250, 500), t, 10),
    ).map(lambda pair: pair[0] + pair[1])
    short_supply = st.tuples(
        _orders(st.just(Side.BID), st.integers(200, 500), t, 12),
        _orders(st.just(Side.OFFER), st.integers(0, 300), t, 3),
    ).map(lambda pair: pair[0] + pair[1])
    short_demand = st.tuples(
        _orders(st.just(Side.BID), st.integers(200, 500), t, 3),
        _orders(st.just(Side.OFFER), st.integers(0, 300), t, 12),
    ).map(lambda pair: pair[0] + pair[1])
    return general | ties | all_tied | one_side | one_order | no_cross | short_supply | short_demand
