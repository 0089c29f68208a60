"""The audit finds a deliberate overcharge, a missing settlement and stolen energy."""

from __future__ import annotations

from dataclasses import dataclass, replace

import pytest

from pricing import (
    AuditPolicy,
    IntervalRecord,
    Order,
    PricingInputError,
    SettledTrade,
    Side,
    audit,
    pay_as_clear,
)


@dataclass(frozen=True)
class Meter:
    participant: str
    import_wh: float
    export_wh: float


ORDERS = [
    Order("ann", Side.BID, 400, 300),
    Order("bob", Side.BID, 300, 280),
    Order("sun", Side.OFFER, 500, 100),
    Order("pv2", Side.OFFER, 300, 150),
]
CLEARING = pay_as_clear(ORDERS)
# ann and bob import 700 Wh; sun and pv2 export 800 Wh; the feeder exports 84 Wh to the grid.
METERS = [
    Meter("ann", 400.4, 0.0),
    Meter("bob", 300.2, 0.0),
    Meter("sun", 0, 500.3),
    Meter("pv2", 0, 300.0),
]
POLICY = AuditPolicy(loss_fraction=0.02, tolerance_wh=2.0, tolerance_fraction=0.005)


def record(**changes: object) -> IntervalRecord:
    base = IntervalRecord(
        interval_id=7,
        metered=METERS,
        clearing=CLEARING,
        settlements=[SettledTrade.of(t, tx_hash="0xabc") for t in CLEARING.trades],
        feeder_import_wh=700.6 / 0.98 - 800.3,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def kinds(report) -> list[str]:  # type: ignore[no-untyped-def]
    return [f.kind for f in report.findings]


def test_an_honest_interval_is_clean() -> None:
    report = audit([record()], POLICY)
    assert CLEARING.volume_wh == 700
    assert report.clean, report.messages()
    assert report.settlements_checked == len(CLEARING.trades)
    assert report.value_recomputed_wei == report.value_settled_wei == CLEARING.value_wei
    balance = report.balances[0]
    assert balance.unexplained_wh == pytest.approx(0.0, abs=1e-9)


def test_a_deliberate_overcharge_is_found_to_the_wei() -> None:
    settled = [SettledTrade.of(t) for t in CLEARING.trades]
    settled[0] = replace(settled[0], value_wei=settled[0].value_wei + 1)
    report = audit([record(settlements=settled)], POLICY)
    assert kinds(report) == ["overcharge"]
    assert report.findings[0].amount == 1
    assert report.value_settled_wei - report.value_recomputed_wei == 1


def test_a_missing_settlement_is_found() -> None:
    settled = [SettledTrade.of(t) for t in CLEARING.trades[1:]]
    report = audit([record(settlements=settled)], POLICY)
    assert kinds(report) == ["missing_settlement"]
    assert report.findings[0].amount == CLEARING.trades[0].value_wei


def test_stolen_energy_shows_as_an_unexplained_imbalance() -> None:
    # An unmetered tap draws 40 Wh: the feeder delivers it, no participant meter sees it.
    honest = record()
    assert honest.feeder_import_wh is not None
    report = audit([record(feeder_import_wh=honest.feeder_import_wh + 40.0)], POLICY)
    assert kinds(report) == ["energy_imbalance"]
    assert report.findings[0].amount == pytest.approx(40.0 * (1 - POLICY.loss_fraction))
    assert "theft" in report.messages()[0]


def test_a_meter_bypass_is_also_seen_as_overbought() -> None:
    bypassed = [
        replace(m, import_wh=m.import_wh - 40.0) if m.participant == "bob" else m for m in METERS
    ]
    report = audit([record(metered=bypassed)], POLICY)
    assert sorted(kinds(report)) == ["energy_imbalance", "overbought"]


def test_a_theft_within_meter_tolerance_is_not_flagged() -> None:
    stolen = [
        replace(m, import_wh=m.import_wh - 1.0) if m.participant == "bob" else m for m in METERS
    ]
    assert audit([record(metered=stolen)], POLICY).clean


def test_settlement_that_differs_and_one_never_cleared() -> None:
    settled = [SettledTrade.of(t) for t in CLEARING.trades]
    first = CLEARING.trades[0]
    settled[0] = SettledTrade(
        first.buyer,
        first.seller,
        first.energy_wh,
        first.price_wei_per_wh + 5,
        first.energy_wh * (first.price_wei_per_wh + 5),
    )
    settled.append(SettledTrade("eve", "sun", 10, 290, 2900))
    report = audit([record(settlements=settled)], POLICY)
    assert sorted(kinds(report)) == ["settlement_differs", "unexpected_settlement"]


def test_selling_more_than_the_meter_exported_is_flagged() -> None:
    meters = [replace(m, export_wh=200.0) if m.participant == "sun" else m for m in METERS]
    report = audit([record(metered=meters, feeder_import_wh=None)], POLICY)
    assert kinds(report) == ["oversold"]
    assert report.balances[0].unexplained_wh is None


def test_audit_policy_is_validated() -> None:
    with pytest.raises(PricingInputError, match="loss_fraction"):
        AuditPolicy(loss_fraction=1.2)


def test_a_tampered_clearing_price_is_found_from_the_recorded_book() -> None:
    honest = audit([record(orders=ORDERS)], POLICY)
    assert honest.clean, honest.messages()
    tampered = replace(CLEARING, price_wei_per_wh=CLEARING.price_wei_per_wh + 10)
    report = audit([record(orders=ORDERS, clearing=tampered)], POLICY)
    assert "clearing_mismatch" in kinds(report)


def test_price_components_must_add_up() -> None:
    parts = {"production_cost": 60.0, "market": 100.0, "tax": 8.0, "total": 168.0}
    assert audit([record(price_components_wei_per_wh=parts)], POLICY).clean
    report = audit([record(price_components_wei_per_wh={**parts, "total": 170.0})], POLICY)
    assert kinds(report) == ["price_breakdown_mismatch"]
