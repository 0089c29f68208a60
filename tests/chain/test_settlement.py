"""Batch settlement through the Market facade on a real Anvil."""

from __future__ import annotations

import threading
from dataclasses import replace
from pathlib import Path

import pytest

from bench.chain import Anvil, Market
from bench.chain import audit as audit_module
from bench.chain.anvil import rpc_call
from bench.chain.audit import audit_interval
from bench.chain.encoding import PackedTrade, batch_hash
from bench.chain.keys import KeyRing
from bench.chain.orders import encode_batch
from bench.errors import ChainError
from pricing import Trade
from tests.chain.conftest import Meters

PEOPLE = ("alice", "bob", "carol")  # the participants of the market fixture
DEPOSIT_WEI = 1_000_000  # what each of them deposited

pytestmark = pytest.mark.chain


def holdings_conserved(market: Market) -> bool:
    balances = sum(market.balance_wei(p) for p in PEOPLE)
    return market.total_holdings_wei() == balances + market.sessions.deposits_wei()


def test_settles_trades_and_moves_balances(market: Market, meters: Meters) -> None:
    trades = [Trade("alice", "bob", 100, 250), Trade("carol", "alice", 40, 300)]
    s = market.settle_interval(1, trades, meters.next())
    assert s.interval_id == 1
    assert s.settled_trades == tuple(trades)
    assert s.rejected_trades == ()
    assert s.value_settled_wei == 100 * 250 + 40 * 300
    assert s.energy_settled_wh == 140
    assert s.gas_used > 21_000
    assert s.tx_hash.startswith("0x") and len(s.tx_hash) == 66
    index = {p: market.accounts.index(p) for p in PEOPLE}
    book = market.settler.sign_book(1, trades)
    assert s.batch_hash == batch_hash(encode_batch(trades, index, book)[0])
    assert market.balance_wei("alice") == DEPOSIT_WEI - 25_000 + 12_000
    assert market.balance_wei("bob") == DEPOSIT_WEI + 25_000
    assert market.balance_wei("carol") == DEPOSIT_WEI - 12_000
    assert holdings_conserved(market)


def test_unpayable_trade_is_rejected_and_the_rest_settles(market: Market, meters: Meters) -> None:
    trades = [
        Trade("alice", "bob", 10, 250),
        Trade("carol", "bob", 5000, 250),  # 1,250,000 > carol's 1,000,000
        Trade("bob", "carol", 4, 250),
    ]
    s = market.settle_interval(1, trades, meters.next())
    assert s.rejected_trades == ((trades[1], "insufficient balance"),)
    assert s.settled_trades == (trades[0], trades[2])
    assert market.balance_wei("carol") == DEPOSIT_WEI + 1000
    assert holdings_conserved(market)


def test_interval_settles_at_most_once(market: Market, meters: Meters) -> None:
    trades = [Trade("alice", "bob", 10, 250)]
    market.settle_interval(4, trades, meters.next())
    with pytest.raises(ChainError, match="IntervalAlreadySettled") as info:
        market.settle_interval(4, trades, meters.next())
    assert info.value.error_name == "IntervalAlreadySettled"
    assert market.balance_wei("bob") == DEPOSIT_WEI + 2500
    assert market.settled_intervals() == [4]


def test_unknown_participant_is_refused(market: Market, meters: Meters) -> None:
    with pytest.raises(ChainError, match="add_participants"):
        market.settle_interval(1, [Trade("alice", "mallory", 1, 1)], meters.next())


def test_settle_unsettled_skips_what_is_on_chain(market: Market, meters: Meters) -> None:
    intervals = {i: [Trade("alice", "bob", i, 100)] for i in range(1, 5)}
    market.settle_interval(1, intervals[1], meters.next())
    market.settle_interval(2, intervals[2])
    done = market.settle_unsettled(intervals)
    assert [s.interval_id for s in done] == [3, 4]
    assert market.settled_intervals() == [1, 2, 3, 4]
    assert market.balance_wei("bob") == DEPOSIT_WEI + 100 * (1 + 2 + 3 + 4)
    assert market.settle_unsettled(intervals) == []


def test_exactly_once_across_an_anvil_restart(tmp_path: Path, artifacts: None) -> None:
    state = tmp_path / "anvil-state.json"
    intervals = {i: [Trade("alice", "bob", 10 * i, 200)] for i in range(1, 6)}
    keys = tmp_path / "keys"
    with Anvil(dump_state_on_stop=state) as node:
        first = Market.deploy(node.url)
        first.add_participants(PEOPLE, DEPOSIT_WEI)
        first.settle_interval(1, intervals[1], Meters(first).next())
        first.settle_unsettled({i: intervals[i] for i in (2, 3)})
        first.keys.save(keys)
    with Anvil(load_state=state) as node:
        # A restarted bench: nothing in memory but the run's keystores.
        bench = Market.attach(node.url, first.address, keys=KeyRing.from_folder(keys))
        done = bench.settle_unsettled(intervals)
        assert [s.interval_id for s in done] == [4, 5]
        assert bench.settled_intervals() == [1, 2, 3, 4, 5]
        assert bench.balance_wei("bob") == DEPOSIT_WEI + 200 * 10 * (1 + 2 + 3 + 4 + 5)
        assert all(s.rejected_trades == () for s in done), "keys and meters found again"


def test_withdraw_pulls_to_wallet_and_overdraft_is_decoded(market: Market) -> None:
    market.accounts.withdraw("alice", 400_000)
    assert market.accounts.wallet_wei("alice") == 400_000
    assert market.balance_wei("alice") == 600_000
    with pytest.raises(ChainError) as info:
        market.accounts.withdraw("alice", 600_001)
    assert info.value.error_name == "InsufficientBalance"
    assert "neededWei=600001" in str(info.value)
    assert holdings_conserved(market)


def test_audit_rebuilds_an_interval_from_the_chain(market: Market, meters: Meters) -> None:
    trades = [Trade("alice", "bob", 7, 250), Trade("carol", "bob", 10**6, 250)]
    sent = market.settle_interval(3, trades, meters.next())
    audit = audit_interval(market, 3)
    assert audit.ok, audit.findings
    assert audit.settlement == sent


def test_audit_of_unsettled_interval_is_an_error(market: Market) -> None:
    with pytest.raises(ChainError, match="not settled"):
        audit_interval(market, 99)


def test_fast_settle_encoding_matches_web3(market: Market, meters: Meters) -> None:
    trades = [Trade("alice", "bob", 100, 250), Trade("carol", "alice", 40, 300)]
    readings = meters.next()
    book = market.settler.sign_book(7, trades)
    digest = "0x" + "ab" * 32
    data, _ = market.settler.settle_calldata(7, trades, readings, book=book, journal_digest=digest)
    batch, _ = encode_batch(trades, {p: market.accounts.index(p) for p in PEOPLE}, book)
    ref_readings = [
        (r.meter_id, r.seq, r.import_wh, r.export_wh, r.time_s, r.v, r.r, r.s) for r in readings
    ]
    reference = market.contract.encode_abi(
        "settle", args=[7, batch, ref_readings, bytes.fromhex(digest[2:])]
    )
    assert "0x" + data.hex() == reference


def test_settlement_events_list_what_settled(market: Market, meters: Meters) -> None:
    first = market.settle_interval(2, [Trade("alice", "bob", 3, 250)], meters.next())
    second = market.settle_interval(
        4, [Trade("carol", "alice", 5, 200), Trade("bob", "bob", 1, 1)], meters.next()
    )
    events = market.settler.events()
    assert [e.interval_id for e in events] == [2, 4]
    assert (events[0].tx_hash, events[0].batch_hash) == (first.tx_hash, first.batch_hash)
    assert (events[1].settled_count, events[1].rejected_count) == (1, 1)
    assert events[1].value_settled_wei == second.value_settled_wei == 1000
    assert events[1].energy_settled_wh == 5


def test_deposit_tops_up_and_keeps_conservation(market: Market) -> None:
    market.accounts.deposit("carol", 5000)
    assert market.accounts.balances_wei(["carol", "bob"]) == {
        "carol": DEPOSIT_WEI + 5000,
        "bob": DEPOSIT_WEI,
    }
    assert holdings_conserved(market)


def test_audit_flags_calldata_that_disagrees_with_events(
    market: Market, meters: Meters, monkeypatch: pytest.MonkeyPatch
) -> None:
    market.settle_interval(3, [Trade("alice", "bob", 7, 250)], meters.next())
    real = audit_module.decode_batch

    def inflated(batch: bytes) -> tuple[PackedTrade, ...]:
        return tuple(replace(p, energy_wh=p.energy_wh + 1) for p in real(batch))

    monkeypatch.setattr(audit_module, "decode_batch", inflated)
    audit = audit_interval(market, 3)
    assert not audit.ok
    assert any("differ from the calldata" in f for f in audit.findings)


def test_crash_between_send_and_receipt_settles_once(
    market: Market, meters: Meters, anvil: Anvil
) -> None:
    trades = [Trade("alice", "bob", 10, 100)]
    market.settle_interval(1, [], meters.next())  # attested energy first
    trades_by_interval = {2: trades}
    data, _ = market.settler.settle_calldata(2, trades)
    rpc_call(anvil.url, "evm_setAutomine", [False])
    try:
        market.operator.send(market.address, data, gas=1_000_000)  # then the bench "crashes"
        restarted = Market.attach(anvil.url, market.address, keys=market.keys)
        assert not restarted.settler.is_settled(2)  # still pending
        mined = threading.Event()

        def mine_until_done() -> None:  # a block every 0.2 s, however slow signing is
            while not mined.wait(0.2):
                rpc_call(anvil.url, "evm_mine", [])

        miner = threading.Thread(target=mine_until_done)
        miner.start()
        try:
            assert restarted.settle_unsettled(trades_by_interval) == []
        finally:
            mined.set()
            miner.join()
    finally:
        rpc_call(anvil.url, "evm_setAutomine", [True])
    assert restarted.settled_intervals() == [1, 2]
    assert restarted.balance_wei("bob") == DEPOSIT_WEI + 1000
