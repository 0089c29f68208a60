"""Connecting as the operator, deploying the contracts, paying for gas."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.chain.artifacts import load_artifact
from bench.chain.client import ChainClient, Wallet
from bench.chain.keys import operator_account
from bench.errors import ChainError

GAS_FUNDING_WEI = 10**20


def connect(
    url: str,
    *,
    operator_key: str | None = None,
    operator_key_file: Path | None = None,
    allow_anvil_key: bool = False,
    expected_chain_id: int | None = None,
) -> tuple[ChainClient, Wallet]:
    """The node and the operator's wallet (Anvil's account 0 only on Anvil's chain)."""
    client = ChainClient(url, expected_chain_id=expected_chain_id)
    account = operator_account(
        client.chain_id,
        key=operator_key,
        key_file=operator_key_file,
        allow_anvil_key=allow_anvil_key,
    )
    return client, Wallet(client, account)


def require_gas(client: ChainClient, operator: Wallet) -> None:
    """Fund the operator on Anvil, or refuse to start with one that cannot pay gas."""
    if client.w3.eth.get_balance(operator.address) == 0:
        if client.is_anvil:
            client.set_balance(operator.address, GAS_FUNDING_WEI)
            return
        raise ChainError(
            f"the operator {operator.address} has no native ETH on {client.url} (chain "
            f"{client.chain_id}): fund it for gas, or pass another operator key"
        )


def deploy_contract(operator: Wallet, name: str, args: Sequence[Any]) -> str:
    """Deploy contract ``name`` from its forge artifact; returns its address."""
    artifact = load_artifact(name)
    factory = operator.client.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = bytes.fromhex(factory.constructor(*args).data_in_transaction[2:])
    receipt = operator.transact(None, data)
    tx = operator.client.w3.eth.get_transaction_receipt(receipt.tx_hash)  # type: ignore[arg-type]
    return str(tx["contractAddress"])


def encode_call(contract: Any, fn: str, *args: Any) -> bytes:
    """Calldata of ``contract.fn(*args)``."""
    return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])


def wait_all(pending: Sequence[tuple[Wallet, str]]) -> None:
    """Wait for pipelined transactions (sent, not yet awaited) in order."""
    for wallet, tx_hash in pending:
        wallet.wait(tx_hash)
