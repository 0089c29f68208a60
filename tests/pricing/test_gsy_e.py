"""Where the mechanisms match gsy-e and where they differ, on gsy-e's own examples.

Prices in gsy-e's examples are in €/kWh (or ct/kWh) with energies in kWh; here they are
scaled to integer wei/Wh and Wh (×1000 or ×100 and ×1000), which changes no comparison.
"""

from __future__ import annotations

from collections import Counter

import pytest

from pricing import (
    MECHANISMS,
    Order,
    Side,
    pay_as_bid,
    pay_as_clear,
    pay_as_clear_gsy_e,
    pay_as_offer,
)


def _bid(who: str, wh: int, price: int, t: float = 0.0) -> Order:
    return Order(who, Side.BID, wh, price, t)


def _offer(who: str, wh: int, price: int, t: float = 0.0) -> Order:
    return Order(who, Side.OFFER, wh, price, t)


# gsy-e docs, "Two-Sided Pay-as-Clear Market", Figure 3.7: six 0.5 kWh bids stepping down
# from 0.275 to 0.025 €/kWh, offers of 1 kWh at 0.10, 0.15 and 0.2125 €/kWh; the figure
# marks the clearing point at 1.5 kWh and 0.15 €/kWh.
FIGURE_3_7 = [
    *(_bid(f"load{i}", 500, p) for i, p in enumerate((275, 225, 175, 125, 75, 25))),
    _offer("pv0", 1000, 100),
    _offer("pv1", 1000, 150),
    _offer("pv2", 1000, 212),
]


def test_pay_as_clear_reproduces_the_documented_clearing_point() -> None:
    clearing = pay_as_clear(FIGURE_3_7)
    assert (clearing.volume_wh, clearing.price_wei_per_wh) == (1500, 150)


def test_gsy_e_code_charges_the_bid_rate_not_the_documented_point() -> None:
    """gsy-e's algorithm picks the lowest bid rate whose cumulative demand the offers at or
    below it cover: 0.175 €/kWh, not the figure's 0.15 (same volume)."""
    clearing = pay_as_clear_gsy_e(FIGURE_3_7)
    assert (clearing.volume_wh, clearing.price_wei_per_wh) == (1500, 175)
    assert clearing.mechanism == "pay_as_clear_gsy_e" and "pay_as_clear_gsy_e" in MECHANISMS


# gsy-framework tests/test_matching_algorithms/test_pay_as_clear_matching_algorithm.py,
# test_get_matches_recommendations (rates in ct/kWh ×100; 1 + tolerance → 101).
MARKET_1 = [
    _bid("A", 10, 100), _bid("B", 15, 200), _bid("C", 20, 300),
    _offer("A", 25, 101), _offer("B", 30, 500), _offer("C", 35, 240),
]  # fmt: skip
MARKET_2 = [
    _bid("A", 40, 150), _bid("B", 45, 200), _bid("C", 50, 600),
    _offer("A", 55, 100), _offer("B", 60, 500), _offer("C", 65, 100),
]  # fmt: skip


@pytest.mark.parametrize(
    ("book", "rate", "expected"),
    [
        (MARKET_1, 300, [("C", "A", 20)]),
        (MARKET_2, 200, [("C", "A", 50), ("B", "A", 5), ("B", "C", 40)]),
    ],
    ids=["market-1", "market-2"],
)
def test_gsy_e_rule_reproduces_gsy_e_rates_and_positions(
    book: list[Order], rate: int, expected: list[tuple[str, str, int]]
) -> None:
    """Same rate and volume as gsy-e; each participant's net position is gsy-e's, but a
    participant that gsy-e lets buy and sell in one slot (C in market 2) is netted."""
    clearing = pay_as_clear_gsy_e(book)
    assert clearing.price_wei_per_wh == rate
    assert clearing.volume_wh + clearing.netted_wh == sum(e for _, _, e in expected)
    assert _positions([(t.buyer, t.seller, t.energy_wh) for t in clearing.trades]) == _positions(
        expected
    )


def test_equilibrium_rule_trades_what_gsy_e_leaves_on_the_table() -> None:
    """Market 1: B's bid at 2 ct crosses A's offer at 1 ct, but gsy-e stops at C's 20 kWh.
    The equilibrium volume is 25 and the only market-clearing price is B's bid."""
    clearing = pay_as_clear(MARKET_1)
    assert (clearing.volume_wh, clearing.price_wei_per_wh) == (25, 200)
    clearing = pay_as_clear(MARKET_2)
    assert (clearing.volume_wh + clearing.netted_wh, clearing.price_wei_per_wh) == (120, 150)


# gsy-e docs, "Two-Sided Pay-as-Bid Market", Figure 3.6: orders in time order.
FIGURE_3_6 = [
    _bid("load1", 4000, 120, 1.0),
    _offer("pv1", 8000, 140, 2.0),
    _bid("load2", 8000, 220, 3.0),
    _offer("pv2", 4000, 130, 4.0),
    _offer("pv3", 6000, 110, 5.0),
]


def test_pay_as_bid_reproduces_the_documented_trades() -> None:
    trades = [
        (t.buyer, t.seller, t.energy_wh, t.price_wei_per_wh) for t in pay_as_bid(FIGURE_3_6).trades
    ]
    assert trades == [("load2", "pv1", 8000, 220), ("load1", "pv3", 4000, 120)]


def test_pay_as_bid_pairs_best_with_best_where_gsy_e_goes_from_the_dearest_offer() -> None:
    """gsy-e's pay-as-bid matches offers from the most expensive down (0.20 with the 0.25
    bid, then 0.10 with the 0.15 bid: 10 Wh, surplus 0.5); best-with-best trades 5 Wh
    with surplus 0.75 and then nothing crosses."""
    book = [_bid("b1", 5, 250), _bid("b2", 5, 150), _offer("s1", 5, 100), _offer("s2", 5, 200)]
    clearing = pay_as_bid(book)
    assert [(t.buyer, t.seller, t.energy_wh, t.price_wei_per_wh) for t in clearing.trades] == [
        ("b1", "s1", 5, 250)
    ]
    assert clearing.welfare_wei == 5 * 150


def test_pay_as_offer_takes_the_cheapest_affordable_offers_at_their_price() -> None:
    book = [_offer("pv1", 5, 140), _offer("pv2", 5, 110), _bid("load", 8, 150, 1.0)]
    trades = [(t.seller, t.energy_wh, t.price_wei_per_wh) for t in pay_as_offer(book).trades]
    assert trades == [("pv2", 5, 110), ("pv1", 3, 140)]


@pytest.mark.parametrize("name", sorted(set(MECHANISMS) - {"utility"}))
def test_no_mechanism_trades_a_participant_with_itself(name: str) -> None:
    """A prosumer whose bid crosses its own offer (and the best offers): its own energy nets
    out; it trades only its net position with others. (``utility`` is no local market:
    every order trades with the grid, its own test is in tests/market/test_conventional.py.)"""
    book = [
        _bid("ann", 10, 300),
        _offer("ann", 6, 100),
        _offer("bob", 10, 120),
        _bid("cat", 4, 250, 1.0),
    ]
    clearing = MECHANISMS[name](book)
    assert all(t.buyer != t.seller for t in clearing.trades)
    assert clearing.netted_wh == 6
    bought = sum(t.energy_wh for t in clearing.trades if t.buyer == "ann")
    assert bought == 4 and all(t.seller == "bob" for t in clearing.trades)


def _positions(trades: list[tuple[str, str, int]]) -> Counter[str]:
    net: Counter[str] = Counter()
    for buyer, seller, energy in trades:
        net[buyer] += energy
        net[seller] -= energy
    return Counter({who: energy for who, energy in net.items() if energy})
