"""The aggregator between the campus and the city (pricing.areas): its pass-through to the
savers to the wei, against exact rational shares (Fractions) and a hand computation; both
areas cleared; and the audit's reconciliation of what was settled."""

from __future__ import annotations

import random
from dataclasses import dataclass, replace
from fractions import Fraction

import pytest

from pricing import (
    AreaPlan,
    IntervalRecord,
    Order,
    PricingInputError,
    SettledTrade,
    Side,
    audit,
    clear_areas,
    pay_as_bid,
    pay_as_clear,
    pay_as_offer,
)
from pricing.areas import apportion, pass_through, pool_ask_wei_per_wh, purchase_trades

BID, OFFER = Side.BID, Side.OFFER


def _oracle_shares(total: int, weights: dict[str, int]) -> dict[str, int]:
    """Hamilton's method in exact rationals: each gets the whole part of its quota
    ``total * w / W``; the units left go to the largest fractional parts, ties by name."""
    whole = sum(weights.values())
    quota = {n: Fraction(total * w, whole) for n, w in weights.items()}
    floors = {n: q.numerator // q.denominator for n, q in quota.items()}
    left = total - sum(floors.values())
    ranked = sorted(quota, key=lambda n: (-(quota[n] - floors[n]), n))
    return {n: floors[n] + (1 if n in ranked[:left] else 0) for n in quota}


def test_the_pass_through_by_hand() -> None:
    """Revenue 1,003 wei, fee 250 bp: fee ⌊1003·0.025⌋ = 25, 978 passed to a (2 Wh) and b
    (3 Wh): quotas 391.2 and 586.8, so a 391 and b 586 + the one wei left = 587."""
    pt = pass_through(1003, 250, {"a": 2, "b": 3})
    assert pt.fee_wei == 25
    assert pt.paid_wei == {"a": 391, "b": 587}
    # three equal savers and 100 wei: 33⅓ each, the one wei left to the first name
    assert apportion(100, {"c": 1, "b": 1, "a": 1}) == {"a": 34, "b": 33, "c": 33}


def test_the_pass_through_matches_exact_rational_shares() -> None:
    """Random revenues, fees and deliveries: the parts are the exact-rational oracle's,
    sum to the revenue less the fee (no wei created or lost) and each is within one wei
    of its exact share."""
    rng = random.Random(16)
    for _ in range(2000):
        revenue = rng.randrange(0, 10**12)
        fee_bp = rng.choice([0, 1, 250, 500, 9999])
        delivered = {f"s{i:02d}": rng.randrange(1, 10**6) for i in range(rng.randrange(1, 30))}
        pt = pass_through(revenue, fee_bp, delivered)
        pool = revenue - pt.fee_wei
        assert pt.fee_wei == revenue * fee_bp // 10_000
        assert sum(pt.paid_wei.values()) == pool
        assert pt.paid_wei == _oracle_shares(pool, delivered)
        whole = sum(delivered.values())
        for name, wh in delivered.items():
            assert abs(pt.paid_wei[name] - Fraction(pool * wh, whole)) < 1


def test_the_remainder_goes_to_the_largest_fractional_parts() -> None:
    """7 wei over 1:1:1:1 leaves 3 after the floors (1 each): the first three names get
    them; over 1:2:4 (quotas 1, 2, 4 exactly) nothing is left to place."""
    assert apportion(7, {"d": 1, "c": 1, "b": 1, "a": 1}) == {"a": 2, "b": 2, "c": 2, "d": 1}
    assert apportion(7, {"x": 1, "y": 2, "z": 4}) == {"x": 1, "y": 2, "z": 4}
    # 10 over 1:1:4 (quotas 1⅔, 1⅔, 6⅔): each fraction is ⅔, the 2 left to a and b
    assert apportion(10, {"c": 4, "b": 1, "a": 1}) == {"a": 2, "b": 2, "c": 6}
    with pytest.raises(PricingInputError):
        apportion(5, {"a": 0})


def test_each_saver_settles_as_two_trades_at_adjacent_prices_worth_its_share() -> None:
    pt = pass_through(58_000, 500, {"s1": 429, "s2": 71})
    trades = purchase_trades("agg", pt)
    for saver, wh in pt.delivered_wh.items():
        own = [t for t in trades if t.seller == saver]
        assert all(t.buyer == "agg" for t in own)
        assert sum(t.energy_wh for t in own) == wh
        assert sum(t.value_wei for t in own) == pt.paid_wei[saver]
        prices = sorted({t.price_wei_per_wh for t in own})
        assert len(prices) <= 2 and prices[-1] - prices[0] <= 1


def test_the_pool_ask_pays_every_saver_at_least_its_limit() -> None:
    """The ask grossed up by the fee: any revenue at or above it, less the fee, pays each
    saver at least its limit per Wh (so its signed offer covers the trade)."""
    rng = random.Random(4)
    for _ in range(500):
        limits = [rng.randrange(0, 1000) for _ in range(rng.randrange(1, 6))]
        fee_bp = rng.randrange(0, 9999)
        ask = pool_ask_wei_per_wh(limits, fee_bp)
        sold = rng.randrange(1, 5000)
        pt = pass_through(ask * sold, fee_bp, {"s": sold})
        assert pt.paid_wei["s"] >= max(limits) * sold


ORDERS = [
    Order("s1", OFFER, 600, 110),  # campus savers
    Order("s2", OFFER, 400, 100),
    Order("dorm", BID, 300, 200),  # a campus buyer
    Order("grid", OFFER, 10**6, 200),
    Order("grid", BID, 10**5, 80),
    Order("home", BID, 500, 300),  # a city buyer
]
PLAN = AreaPlan("agg", frozenset({"home"}), fee_bp=500, grid="grid")


@pytest.mark.parametrize("mechanism", [pay_as_clear, pay_as_bid, pay_as_offer])
def test_the_city_takes_the_campus_pool_through_the_aggregator(mechanism) -> None:  # type: ignore[no-untyped-def]
    """The dorm buys from the cheaper saver on campus; the 700 Wh left are pooled, the
    city takes 500 Wh of them; the aggregator buys exactly those 500 Wh, 6:1 from s1 and
    s2 (their pooled surplus 600:100), and pays out the city revenue less 5 %."""
    got = clear_areas(ORDERS, PLAN, mechanism)
    assert [(t.buyer, t.seller, t.energy_wh) for t in got.lower.trades] == [("dorm", "s2", 300)]
    city = [t for t in got.upper.trades if t.seller == "agg"]
    assert [(t.buyer, t.energy_wh) for t in city] == [("home", 500)]
    revenue = sum(t.value_wei for t in city)
    pt = got.pass_through
    assert pt.revenue_wei == revenue and pt.fee_wei == revenue * 500 // 10_000
    assert pt.delivered_wh == {"s1": 429, "s2": 71}  # 500·6/7 = 428.6, 500/7 = 71.4
    bought = [t for t in got.clearing.trades if t.buyer == "agg"]
    assert sum(t.energy_wh for t in bought) == 500  # it holds nothing
    assert sum(t.value_wei for t in bought) == revenue - pt.fee_wei
    ask = next(o for o in got.orders if o.participant == "agg" and o.side is OFFER)
    assert (ask.energy_wh, ask.price_wei_per_wh) == (700, 116)  # ⌈110 / 0.95⌉
    bid = next(o for o in got.orders if o.participant == "agg" and o.side is BID)
    assert bid.energy_wh == 500
    assert bid.price_wei_per_wh == max(t.price_wei_per_wh for t in bought)
    assert min(t.price_wei_per_wh for t in bought) >= 110  # every saver's limit


def test_the_pool_is_bounded_by_the_campus_net_export() -> None:
    """Only 200 Wh left the campus (metered): the pool offers 200 Wh, apportioned 3:1."""
    got = clear_areas(ORDERS, PLAN, pay_as_clear, tie_wh=200)
    ask = next(o for o in got.orders if o.participant == "agg" and o.side is OFFER)
    assert ask.energy_wh == 200
    assert got.pass_through.delivered_wh == {"s1": 171, "s2": 29}  # 200·6/7, 200/7


def test_without_city_demand_the_aggregator_buys_nothing() -> None:
    orders = [o for o in ORDERS if o.participant != "home"]
    got = clear_areas(orders, PLAN, pay_as_clear)
    assert not [t for t in got.clearing.trades if "agg" in (t.buyer, t.seller)]
    assert [o.side for o in got.orders if o.participant == "agg"] == [OFFER]


@dataclass(frozen=True)
class _Meter:
    participant: str
    import_wh: float
    export_wh: float


def _record(settlements: list[SettledTrade]) -> IntervalRecord:
    got = clear_areas(ORDERS, PLAN, pay_as_clear, tie_wh=700)
    meters = [
        _Meter("s1", 0.0, 600.2),
        _Meter("s2", 0.0, 400.1),
        _Meter("dorm", 300.3, 0.0),
        _Meter("home", 500.4, 0.0),
    ]
    return IntervalRecord(1, meters, got.clearing, settlements, orders=got.orders, areas=PLAN)


def _settled() -> list[SettledTrade]:
    got = clear_areas(ORDERS, PLAN, pay_as_clear, tie_wh=700)
    return [SettledTrade.of(t) for t in got.clearing.trades]


def test_the_audit_passes_an_honest_two_area_interval() -> None:
    assert audit([_record(_settled())]).findings == ()


def test_a_tampered_pass_through_is_a_finding() -> None:
    """One wei moved from s1's pass-through to s2's (values recomputed honestly, so only
    the pass-through check can see it): both savers are flagged."""
    settled = _settled()
    i = next(n for n, s in enumerate(settled) if s.seller == "s1" and s.buyer == "agg")
    j = next(n for n, s in enumerate(settled) if s.seller == "s2" and s.buyer == "agg")
    a, b = settled[i], settled[j]
    settled[i] = replace(
        a, price_wei_per_wh=a.price_wei_per_wh - 1, value_wei=a.value_wei - a.energy_wh
    )
    settled[j] = replace(
        b, price_wei_per_wh=b.price_wei_per_wh + 1, value_wei=b.value_wei + b.energy_wh
    )
    kinds = {(f.kind, f.participant) for f in audit([_record(settled)]).findings}
    assert ("pass_through_mismatch", "s1") in kinds and ("pass_through_mismatch", "s2") in kinds


def test_an_aggregator_left_holding_energy_is_a_finding() -> None:
    settled = [s for s in _settled() if not (s.buyer == "agg" and s.seller == "s2")]
    kinds = {f.kind for f in audit([_record(settled)]).findings}
    assert "aggregator_holds" in kinds


def test_an_edited_aggregator_order_is_a_finding() -> None:
    record = _record(_settled())
    orders = [
        replace(o, price_wei_per_wh=90) if o.participant == "agg" and o.side is OFFER else o
        for o in record.orders or ()
    ]
    kinds = {f.kind for f in audit([replace(record, orders=orders)]).findings}
    assert "aggregator_order_edited" in kinds
