"""Meters, signed readings and supply sessions through the facade."""

from __future__ import annotations

import pytest

from bench.attestation import meter_id_bytes32 as meter_id
from bench.attestation import reading_digest
from bench.chain import Market
from bench.errors import ChainError
from tests.chain.conftest import Meters

PEOPLE = ("alice", "bob", "carol")  # the participants of the market fixture
DEPOSIT_WEI = 1_000_000  # what each of them deposited

pytestmark = pytest.mark.chain


def test_reading_digest_matches_the_attestation_message(market: Market) -> None:
    on_chain = market.contract.functions.readingDigest(meter_id("alice"), 4, 1234, 56, 789)
    assert on_chain.call() == reading_digest(meter_id("alice"), 4, 1234, 56, 789)
    assert market.registry.attestation("alice") == "attested by bench"


def test_meter_registered_to_someone_else_is_refused(market: Market) -> None:
    with pytest.raises(ChainError, match="registered to"):
        market.registry.register("alice", owner="bob")


def test_extra_meter_is_registered_once(market: Market) -> None:
    market.registry.register("roof-2", owner="carol", location="building B roof")
    market.registry.register("roof-2", owner="carol")  # idempotent
    assert market.contract.functions.meterOwner(meter_id("roof-2")).call() == (
        market.wallet("carol").address
    )
    assert market.registry.status("roof-2") == ("carol", "active")
    assert market.contract.functions.meterLocation(meter_id("roof-2")).call() == "building B roof"


def test_session_bills_metered_energy_and_refunds(market: Market, meters: Meters) -> None:
    market.sessions.set_tariff("bob", "bob", 300)
    (_, start, _) = meters.next(bob=(1000, 0))
    sid = market.sessions.open("alice", "bob", 90_000, max_price_wei_per_wh=300, reading=start)
    assert market.sessions.open_ids() == [sid]
    assert market.sessions.deposits_wei() == 90_000
    assert market.balance_wei("alice") == DEPOSIT_WEI - 90_000
    (_, end, _) = meters.next(bob=(100, 0))
    bill = market.sessions.close(sid, end, closer="alice")
    assert (bill.energy_wh, bill.billed_wei, bill.refund_wei) == (100, 30_000, 60_000)
    assert bill.consumer == "alice" and bill.meter == "bob"
    assert market.balance_wei("bob") == DEPOSIT_WEI + 30_000
    assert market.balance_wei("alice") == DEPOSIT_WEI - 30_000
    assert market.session_bills() == [bill]
    assert market.sessions.open_ids() == []
    total = sum(market.balance_wei(p) for p in PEOPLE)
    assert market.total_holdings_wei() == total


def test_session_price_above_limit_is_decoded(market: Market, meters: Meters) -> None:
    market.sessions.set_tariff("bob", "bob", 300)
    (_, now, _) = meters.next()
    with pytest.raises(ChainError) as info:
        market.sessions.open("alice", "bob", 1000, max_price_wei_per_wh=250, reading=now)
    assert info.value.error_name == "TariffAboveLimit"


def test_only_the_owner_sets_a_tariff(market: Market) -> None:
    with pytest.raises(ChainError) as info:
        market.sessions.set_tariff("alice", "bob", 1)
    assert info.value.error_name == "NotMeterOwner"


def test_owner_hands_a_meter_over_and_the_new_owner_runs_it(market: Market) -> None:
    market.registry.register("charger", owner="carol", location="car park")
    assert market.registry.status("charger") == ("carol", "active")
    with pytest.raises(ChainError) as info:
        market.registry.hand_over("charger", owner="alice", new_owner="bob")
    assert info.value.error_name == "NotMeterOwner"
    market.registry.hand_over("charger", owner="carol", new_owner="bob")
    assert market.registry.status("charger") == ("bob", "active")
    with pytest.raises(ChainError) as info:
        market.sessions.set_tariff("carol", "charger", 100)  # carol no longer owns it
    assert info.value.error_name == "NotMeterOwner"
    market.sessions.set_tariff("bob", "charger", 100)


def test_only_the_registrar_retires_and_a_retired_meter_takes_no_session(market: Market) -> None:
    market.registry.register("charger", owner="carol")
    market.sessions.set_tariff("carol", "charger", 100)
    retire = market.contract.functions.retireMeter(meter_id("charger"))._encode_transaction_data()
    with pytest.raises(ChainError) as info:
        market.wallet("alice").transact(market.address, bytes.fromhex(retire[2:]))
    assert info.value.error_name == "NotRegistrar"
    market.registry.retire("charger")
    assert market.registry.status("charger") == ("carol", "retired")
    with pytest.raises(ChainError) as info:
        market.registry.retire("charger")
    assert info.value.error_name == "MeterNotActive"
    assert market.registry.status("never-registered") == (None, "unregistered")
