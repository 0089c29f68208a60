"""Each attack of issue 11, through the bench's client on a real Anvil."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from eth_account import Account

from bench.attestation import SignedCounters, meter_id_bytes32, sign_counters
from bench.chain import Anvil, Market
from bench.chain.keys import ANVIL_ACCOUNT_0_KEY, KeyRing, load_key, operator_account
from bench.chain.orders import SignedBook, sign_order
from bench.errors import ChainError, ConfigError
from pricing import Trade
from tests.chain.conftest import DEPOSIT_WEI, Meters

pytestmark = pytest.mark.chain


def order(
    market: Market,
    name: str,
    interval_id: int,
    bid: tuple[int, int] = (0, 0),
    offer: tuple[int, int] = (0, 0),
):
    return sign_order(
        market.wallet(name).account,
        chain_id=market.client.chain_id,
        market=market.address,
        interval_id=interval_id,
        bid=bid,
        offer=offer,
    )


def test_zero_counter_drain_is_rejected(market: Market, meters: Meters) -> None:
    """The operator moves alice's balance to carol, whose meter shows no export."""
    readings = meters.next(alice=(0, 0), carol=(0, 0))
    drain = [Trade("alice", "carol", 4000, 250)]
    # Carol signs an offer, alice signs nothing: the operator invents her side.
    book = SignedBook({"carol": order(market, "carol", 1, offer=(4000, 1))})
    s = market.settle_interval(1, drain, readings, book=book)
    assert s.rejected_trades == ((drain[0], "no signed order for that side"),)
    # Even with alice's own bid, carol's zero export backs nothing.
    s = market.settle_interval(2, drain, meters.next(carol=(0, 0)))
    assert s.rejected_trades == ((drain[0], "not backed by attested meter energy"),)
    assert market.balance_wei("alice") == market.balance_wei("carol") == DEPOSIT_WEI


def test_trade_above_a_signed_limit_or_quantity_is_rejected(market: Market, meters: Meters) -> None:
    trades = [
        Trade("alice", "bob", 10, 301),  # above alice's limit
        Trade("alice", "bob", 10, 199),  # below bob's limit
        Trade("alice", "bob", 90, 250),  # settles: 90 of bob's 100
        Trade("alice", "bob", 20, 250),  # beyond bob's 100 Wh in total
    ]
    book = SignedBook(
        {
            "alice": order(market, "alice", 1, bid=(500, 300)),
            "bob": order(market, "bob", 1, offer=(100, 200)),
        }
    )
    s = market.settle_interval(1, trades, meters.next(), book=book)
    assert s.settled_trades == (trades[2],)
    assert [why for _, why in s.rejected_trades] == [
        "price outside the signed limits",
        "price outside the signed limits",
        "above the signed energy",
    ]
    assert market.balance_wei("bob") == DEPOSIT_WEI + 90 * 250


def test_order_signed_by_someone_else_is_refused(market: Market, meters: Meters) -> None:
    forged = sign_order(
        Account.create(),
        chain_id=market.client.chain_id,
        market=market.address,
        interval_id=1,
        bid=(100, 300),
    )
    book = SignedBook({"alice": forged, "bob": order(market, "bob", 1, offer=(100, 1))})
    s = market.settle_interval(1, [Trade("alice", "bob", 10, 250)], meters.next(), book=book)
    assert [why for _, why in s.rejected_trades] == ["no signed order for that side"]


def test_relayed_reading_does_not_fail_the_interval(market: Market, meters: Meters) -> None:
    readings = meters.next()
    for r in readings:  # a griefer copies them out of the pending settle and relays first
        market.sessions.submit_reading(r, sender="carol")
    s = market.settle_interval(1, [Trade("alice", "bob", 100, 250)], readings)
    assert s.rejected_trades == () and s.rejected_readings == ()
    market.sessions.submit_reading(readings[0])  # idempotent once more


def test_absurd_counter_is_rejected_and_the_meter_keeps_working(
    market: Market, meters: Meters
) -> None:
    market.settle_interval(1, [], meters.next())
    huge = market.registry.attestor.sign("bob", 10_000, 2**48 - 1, meters.time_s + 1)
    with pytest.raises(ChainError) as info:
        market.sessions.submit_reading(huge)
    assert info.value.error_name == "CounterTooFast"
    s = market.settle_interval(2, [Trade("alice", "bob", 10_000, 1)], meters.next())
    assert s.rejected_trades == ()


def test_interval_id_jump_is_refused(market: Market, meters: Meters) -> None:
    with pytest.raises(ChainError) as info:
        market.settle_interval(99, [], meters.next())
    assert info.value.error_name == "InvalidInterval"
    market.settle_interval(1, [], meters.next())  # later real intervals still settle


def open_on_bob(market: Market, meters: Meters, **rise: tuple[int, int]) -> int:
    market.sessions.set_tariff("bob", "bob", 100)
    (_, now, _) = meters.next(**rise)
    return market.sessions.open("alice", "bob", 500_000, max_price_wei_per_wh=100, reading=now)


def test_session_bills_from_the_opening_reading(market: Market, meters: Meters) -> None:
    market.settle_interval(1, [], meters.next(bob=(5000, 0)))
    sid = open_on_bob(market, meters, bob=(4000, 0))  # 4 kWh before the session
    (_, end, _) = meters.next(bob=(10, 0))
    bill = market.sessions.close(sid, end, closer="alice")
    assert (bill.energy_wh, bill.billed_wei) == (10, 1000)


def test_close_with_an_earlier_reading_is_refused(market: Market, meters: Meters) -> None:
    sid = open_on_bob(market, meters, bob=(0, 0))
    (_, early, _) = meters.next(bob=(10, 0))
    (_, real_end, _) = meters.next(bob=(990, 0))
    market.sessions.submit_reading(real_end)
    with pytest.raises(ChainError) as info:
        market.sessions.close(sid, early, closer="alice")
    assert info.value.error_name == "StaleReading"
    bill = market.sessions.close(sid, real_end, closer="bob")
    assert bill.energy_wh == 1000 and bill.billed_wei == 100_000


def test_expired_session_closes_for_anyone_and_the_meter_retires(
    market: Market, meters: Meters, anvil: Anvil
) -> None:
    sid = open_on_bob(market, meters, bob=(0, 0))
    (_, later, _) = meters.next(bob=(300, 0))
    market.sessions.submit_reading(later)
    with pytest.raises(ChainError) as info:
        market.sessions.close_expired(sid, closer="carol")
    assert info.value.error_name == "SessionNotExpired"
    with pytest.raises(ChainError) as info:
        market.registry.retire("bob")
    assert info.value.error_name == "MeterBusy"
    market.client.rpc("evm_increaseTime", [3601])
    market.client.rpc("evm_mine", [])
    market.registry.retire("bob")  # closes the expired session at the last counter
    (bill,) = market.session_bills()
    assert (bill.session_id, bill.energy_wh, bill.billed_wei) == (sid, 300, 30_000)
    assert market.registry.status("bob") == ("bob", "retired")
    assert market.sessions.deposits_wei() == 0


def test_stray_transfer_is_recovered_and_holdings_balance_again(market: Market) -> None:
    mint = market.token.functions.mint(market.address, 777)._encode_transaction_data()
    market.operator.transact(market.token_address, bytes.fromhex(mint[2:]))
    assert market.total_holdings_wei() == 3 * DEPOSIT_WEI + 777
    recover = market.contract.functions.recoverSurplus(market.operator.address)
    market.operator.transact(market.address, bytes.fromhex(recover._encode_transaction_data()[2:]))
    assert market.total_holdings_wei() == int(market.contract.functions.totalBalancesWei().call())


def test_keys_are_fresh_and_keystores_private(tmp_path: Path) -> None:
    a, b = KeyRing(), KeyRing()
    assert a.participant("alice").address != b.participant("alice").address
    (path,) = a.save(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_key(path).address == a.participant("alice").address
    assert a.participant("alice").key.hex() not in repr(a)
    os.chmod(path, 0o644)
    with pytest.raises(ConfigError, match="chmod 600"):
        load_key(path)


def test_anvil_account_is_refused_off_anvil() -> None:
    with pytest.raises(ChainError, match="not Anvil"):
        operator_account(1)
    with pytest.raises(ChainError, match="well-known"):
        operator_account(1, key=ANVIL_ACCOUNT_0_KEY)
    allowed = operator_account(1, key=ANVIL_ACCOUNT_0_KEY, allow_anvil_key=True)
    assert allowed.address == Account.from_key(ANVIL_ACCOUNT_0_KEY).address


def test_grid_trades_are_backed_by_the_feeders_own_counters(market: Market, meters: Meters) -> None:
    """The city grid's meter is the feeder, which signs its own counters: the grid cannot
    buy a seller's export that never left the microgrid, nor sell what it did not deliver;
    it buys the feeder's export plus the registered loss allowance of the energy injected."""
    market.add_participants(["grid"], DEPOSIT_WEI, register_meters=False)
    feeder_key = os.urandom(32)

    def feeder(seq: int, import_wh: int, export_wh: int) -> SignedCounters:
        return sign_counters(
            feeder_key,
            meter_id=meter_id_bytes32("feeder"),
            seq=seq,
            import_wh=import_wh,
            export_wh=export_wh,
            time_s=3600 * seq,
        )

    market.registry.register(
        "feeder",
        "grid",
        signer=Account.from_key(feeder_key).address,
        commissioning=feeder(0, 0, 0),
        grid_loss_allowance_bp=250,
    )
    assert market.registry.attestation("feeder") == "meter-signed"
    # bob exports 1 kWh, alice consumes it on campus: the feeder exports nothing
    readings = [*meters.next(alice=(1000, 0), bob=(0, 1000), carol=(0, 0)), feeder(1, 0, 0)]
    s = market.settle_interval(1, [Trade("grid", "bob", 1000, 80)], readings)
    assert [why for _, why in s.rejected_trades] == ["not backed by attested meter energy"]
    # bob exports 1 kWh more, the feeder sees 980 Wh leave (2 % lost on the way): the grid
    # is backed for 980 + 2.5 % of the 2,000 Wh injected = 1,030 Wh
    readings = [*meters.next(alice=(0, 0), bob=(0, 1000), carol=(0, 0)), feeder(2, 0, 980)]
    buy = [Trade("grid", "bob", 1000, 80), Trade("grid", "bob", 31, 80)]
    s = market.settle_interval(2, buy, readings)
    assert s.settled_trades == (buy[0],)
    assert [why for _, why in s.rejected_trades] == ["not backed by attested meter energy"]
    # the grid sells alice at most what the feeder imported
    readings = [*meters.next(alice=(500, 0), bob=(0, 0), carol=(0, 0)), feeder(3, 400, 980)]
    sell = [Trade("alice", "grid", 400, 200), Trade("alice", "grid", 1, 200)]
    s = market.settle_interval(3, sell, readings)
    assert s.settled_trades == (sell[0],)
    assert market.balance_wei("grid") == DEPOSIT_WEI - 1000 * 80 + 400 * 200
