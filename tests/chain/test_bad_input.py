"""Every kind of bad chain input is a ChainError that says what happened and what to do."""

from __future__ import annotations

from pathlib import Path

import pytest
from eth_account import Account

from bench.chain import Anvil, Market
from bench.chain.anvil import free_port
from bench.chain.artifacts import error_table, load_artifact
from bench.chain.client import CONTRACTS, ChainClient, Wallet, decode_revert
from bench.errors import ChainError
from pricing import Trade
from tests.chain.conftest import Meters

pytestmark = pytest.mark.chain


def test_wrong_chain_id(anvil: Anvil) -> None:
    with pytest.raises(ChainError, match=r"chain id 31337, not 1\b.*--chain-url"):
        Market.deploy(anvil.url, expected_chain_id=1)


def test_node_not_answering() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ChainError, match=r"not answering.*--chain-url"):
        Market.deploy(url)


def test_contract_missing_at_address(anvil: Anvil) -> None:
    nobody = Account.create().address
    with pytest.raises(ChainError, match=r"no GridMarket contract.*deploy it again"):
        Market.attach(anvil.url, nobody)


def test_unfunded_operator(anvil: Anvil) -> None:
    key = "0x" + bytes(Account.create().key).hex()  # a fresh key, no ETH
    market = Market.deploy(anvil.url, operator_key=key)
    market.add_participants(["alice", "bob"], 100)
    readings = Meters(market, ("alice", "bob")).next()
    market.client.set_balance(market.operator.address, 0)
    with pytest.raises(ChainError, match=r"cannot pay for gas.*fund it"):
        market.settle_interval(1, [Trade("alice", "bob", 1, 1)], readings)
    assert not market.settler.is_settled(1)
    market.client.set_balance(market.operator.address, 10**18)
    s = market.settle_interval(1, [Trade("alice", "bob", 1, 1)], readings)
    assert s.value_settled_wei == 1


def test_unfunded_sender_is_told_to_fund(anvil: Anvil) -> None:
    client = ChainClient(anvil.url)
    wallet = Wallet(client, Account.create())
    with pytest.raises(ChainError, match=r"cannot pay for gas.*fund it"):
        wallet.send(wallet.address, b"", gas=21_000, value=1)


def test_revert_is_decoded_with_its_error_name(market: Market) -> None:
    outsider = Market.attach(
        market.client.url,
        market.address,
        operator_key="0x" + bytes(Account.create().key).hex(),
        keys=market.keys,
    )
    outsider.client.set_balance(outsider.operator.address, 10**18)
    with pytest.raises(ChainError) as info:
        outsider.settle_interval(1, [Trade("alice", "bob", 1, 1)])
    assert info.value.error_name == "NotSettler"
    assert outsider.operator.address.lower() in str(info.value).lower()


def test_missing_artifacts_say_how_to_build(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GRIDBENCH_CONTRACTS_OUT", str(tmp_path))
    load_artifact.cache_clear()
    try:
        with pytest.raises(ChainError, match="make build-contracts"):
            load_artifact("GridMarket")
    finally:
        load_artifact.cache_clear()


def test_every_contract_error_has_its_own_selector(artifacts: None) -> None:
    declared = {
        entry["name"]
        for name in CONTRACTS
        for entry in load_artifact(name).abi
        if entry["type"] == "error"
    }
    table = error_table(*CONTRACTS)
    assert {name for name, _, _ in table.values()} == declared
    assert len(table) == len(declared)


def test_unknown_revert_data_is_shown_raw() -> None:
    assert decode_revert("0xdeadbeef00") == (None, "unknown revert data 0xdeadbeef00")
    assert decode_revert(None) == (None, "reverted without a reason")


def test_address_of_another_contract_is_refused(market: Market) -> None:
    with pytest.raises(ChainError, match="not a GridMarket"):
        Market.attach(market.client.url, market.token_address)
