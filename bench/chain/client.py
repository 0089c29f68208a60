"""A typed JSON-RPC client: connection checks, hand-managed nonces, fast receipt polling,
and reverts decoded into :class:`ChainError` carrying the custom error's name."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

import requests
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TimeExhausted, Web3Exception

from bench.chain.artifacts import error_table
from bench.errors import ChainError

CONTRACTS = ("GridMarket", "LabCredit")
RECEIPT_POLL_S = 0.002
DEFAULT_TIP_WEI = 10**9
FEE_REFRESH_S = 5.0


def decode_revert(data: str | bytes | None) -> tuple[str | None, str]:
    """(error name, readable text) of revert data from the project's contracts."""
    raw = bytes(HexBytes(data)) if data else b""
    if len(raw) < 4:
        return None, "reverted without a reason"
    known = error_table(*CONTRACTS).get(raw[:4])
    if known is None:
        if raw[:4] == bytes.fromhex("08c379a0"):
            return "Error", abi_decode(["string"], raw[4:])[0]
        if raw[:4] == bytes.fromhex("4e487b71"):
            return "Panic", f"panic code {abi_decode(['uint256'], raw[4:])[0]:#x}"
        return None, f"unknown revert data 0x{raw.hex()}"
    name, arg_names, arg_types = known
    values = abi_decode(list(arg_types), raw[4:])
    shown = ", ".join(f"{n}={_show(v)}" for n, v in zip(arg_names, values, strict=True))
    return name, f"{name}({shown})"


def _show(value: Any) -> str:
    return "0x" + value.hex() if isinstance(value, bytes) else str(value)


def _revert_data(exc: ContractLogicError) -> str | None:
    data = exc.data
    if isinstance(data, dict):
        return data.get("data")
    return data


@dataclass(frozen=True)
class Receipt:
    """The parts of a mined transaction's receipt the bench uses."""

    tx_hash: str
    block_number: int
    gas_used: int
    logs: tuple[Any, ...]


class ChainClient:
    """One connection to a JSON-RPC node (Anvil, a devnet or a testnet)."""

    def __init__(self, url: str, *, expected_chain_id: int | None = None, timeout_s: float = 10.0):
        self.url = url
        session = requests.Session()
        self.w3 = Web3(HTTPProvider(url, request_kwargs={"timeout": timeout_s}, session=session))
        try:
            self.chain_id = int(self.w3.eth.chain_id)
            self.client_version = str(self.w3.client_version)
        except (requests.RequestException, OSError, Web3Exception, ValueError) as exc:
            raise ChainError(
                f"the node at {url} is not answering ({type(exc).__name__}): start Anvil "
                "(`gridbench chain anvil`) or pass the URL of a running node with --chain-url"
            ) from exc
        if expected_chain_id is not None and self.chain_id != expected_chain_id:
            raise ChainError(
                f"the node at {url} is on chain id {self.chain_id}, not {expected_chain_id}: "
                "point --chain-url at the right network or change the configured chain id"
            )

    @property
    def is_anvil(self) -> bool:
        """True when the node is Anvil (which has the ``anvil_*`` cheat RPCs)."""
        return self.client_version.lower().startswith("anvil")

    def rpc(self, method: str, params: list[Any]) -> Any:
        """A raw JSON-RPC call; node errors become :class:`ChainError`."""
        try:
            response = self.w3.provider.make_request(method, params)  # type: ignore[arg-type]
        except (requests.RequestException, OSError) as exc:
            raise ChainError(f"{method} to {self.url} failed ({exc}): check the node") from exc
        if "error" in response:
            raise ChainError(f"{method} on {self.url} failed: {response['error']}")
        return response["result"]

    def set_balance(self, address: str, wei: int) -> None:
        """Give ``address`` native ETH for gas (Anvil only)."""
        self.rpc("anvil_setBalance", [address, hex(wei)])

    def require_code(self, address: str, what: str) -> None:
        """Raise unless a contract is deployed at ``address``."""
        if len(self.w3.eth.get_code(Web3.to_checksum_address(address))) == 0:
            raise ChainError(
                f"no {what} contract at {address} on {self.url} (chain {self.chain_id}): "
                "deploy it again (Market.deploy) or fix the configured address"
            )


class Wallet:
    """An account that signs and sends its own transactions with a local nonce counter."""

    def __init__(
        self, client: ChainClient, account: LocalAccount, *, tip_wei: int = DEFAULT_TIP_WEI
    ):
        self.client = client
        self.account = account
        self.address = account.address
        self._lock = threading.Lock()
        self._nonce = int(client.w3.eth.get_transaction_count(account.address, "pending"))
        self.tip_wei = tip_wei
        self._max_fee_wei = 0
        self._fee_checked_at = -FEE_REFRESH_S

    def _max_fee(self) -> int:
        # A fixed tip over twice the base fee: the sender pays base fee + tip. (Paying the
        # node's eth_gasPrice instead feeds back on Anvil: its suggestion grows with tips.)
        now = time.monotonic()
        if now - self._fee_checked_at > FEE_REFRESH_S:
            block = self.client.w3.eth.get_block("latest")
            self._max_fee_wei = 2 * int(block.get("baseFeePerGas", 0)) + self.tip_wei
            self._fee_checked_at = now
        return self._max_fee_wei

    @classmethod
    def from_key(cls, client: ChainClient, private_key: str | bytes) -> Wallet:
        return cls(client, Account.from_key(private_key))

    def send(self, to: str | None, data: bytes, *, gas: int, value: int = 0) -> str:
        """Sign and send one transaction; returns its hash without waiting."""
        with self._lock:
            tx: dict[str, Any] = {
                "chainId": self.client.chain_id,
                "nonce": self._nonce,
                "gas": gas,
                "maxFeePerGas": self._max_fee(),
                "maxPriorityFeePerGas": self.tip_wei,
                "data": data,
                "value": value,
            }
            if to is not None:
                tx["to"] = to
            signed = self.account.sign_transaction(tx)
            try:
                tx_hash = self.client.w3.eth.send_raw_transaction(signed.raw_transaction)
            except (ValueError, Web3Exception) as exc:
                self._nonce = int(self.client.w3.eth.get_transaction_count(self.address, "pending"))
                raise ChainError(_send_message(exc, self)) from exc
            except (requests.RequestException, OSError) as exc:
                raise ChainError(
                    f"sending a transaction to {self.client.url} failed ({exc}): check the node"
                ) from exc
            self._nonce += 1
        return "0x" + bytes(tx_hash).hex()

    def wait(self, tx_hash: str, timeout_s: float = 60.0) -> Receipt:
        """Poll for the receipt every 2 ms; a reverted transaction raises ChainError."""
        try:
            raw = self.client.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=timeout_s, poll_latency=RECEIPT_POLL_S
            )
        except TimeExhausted as exc:
            raise ChainError(
                f"transaction {tx_hash} was not mined within {timeout_s:.0f} s: check that the "
                "node mines (Anvil automine) and that the gas price is high enough"
            ) from exc
        receipt = Receipt(
            tx_hash=tx_hash,
            block_number=int(raw["blockNumber"]),
            gas_used=int(raw["gasUsed"]),
            logs=tuple(raw["logs"]),
        )
        if raw["status"] != 1:
            raise self._explain_failure(tx_hash, raw)
        return receipt

    def _explain_failure(self, tx_hash: str, raw: Any) -> ChainError:
        tx = self.client.w3.eth.get_transaction(HexBytes(tx_hash))
        if int(raw["gasUsed"]) >= int(tx["gas"]):
            return ChainError(
                f"transaction {tx_hash} ran out of gas ({tx['gas']}): raise its gas limit or "
                "split the batch",
                error_name="OutOfGas",
            )
        data = self._traced_revert_data(tx_hash)
        if data is None:  # node without debug_traceTransaction: replay on the parent block
            call = {"from": tx["from"], "to": tx["to"], "data": tx["input"], "value": tx["value"]}
            try:
                self.client.w3.eth.call(call, int(raw["blockNumber"]) - 1)  # type: ignore[arg-type]
            except ContractLogicError as exc:
                data = _revert_data(exc)
        if data is None:
            return ChainError(
                f"transaction {tx_hash} reverted: inspect it with `cast run {tx_hash}`"
            )
        name, text = decode_revert(data)
        return ChainError(_revert_message(text, str(tx["to"])), error_name=name)

    def _traced_revert_data(self, tx_hash: str) -> str | None:
        """The revert data of a mined transaction, exact even when the block held others."""
        try:
            trace = self.client.rpc("debug_traceTransaction", [tx_hash, {"tracer": "callTracer"}])
        except ChainError:
            return None
        output = trace.get("output") if isinstance(trace, dict) else None
        return output if output and output != "0x" else None

    def transact(
        self, to: str | None, data: bytes, *, gas: int | None = None, value: int = 0
    ) -> Receipt:
        """Send and wait; estimates gas first so a revert is reported before it is mined."""
        if gas is None:
            gas = self.estimate_gas(to, data, value)
        return self.wait(self.send(to, data, gas=gas, value=value))

    def estimate_gas(self, to: str | None, data: bytes, value: int = 0) -> int:
        """Gas estimate with a 20 % margin; a revert raises the decoded ChainError."""
        tx: dict[str, Any] = {"from": self.address, "data": data, "value": value}
        if to is not None:
            tx["to"] = to
        try:
            estimate = int(self.client.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
        except ContractLogicError as exc:
            name, text = decode_revert(_revert_data(exc))
            raise ChainError(_revert_message(text, to), error_name=name) from exc
        except (ValueError, Web3Exception) as exc:
            raise ChainError(_send_message(exc, self)) from exc
        return estimate * 6 // 5 + 10_000


def _revert_message(text: str, to: str | None) -> str:
    return (
        f"the contract at {to} refused the transaction: {text}; fix the input or the "
        "chain state it names (see docs/chain.md for each error)"
    )


def _send_message(exc: Exception, wallet: Wallet) -> str:
    text = str(exc)
    if "insufficient funds" in text.lower() or "lack of funds" in text.lower():
        return (
            f"account {wallet.address} cannot pay for gas on {wallet.client.url} ({text}): "
            "fund it with native ETH (on Anvil the bench does this itself)"
        )
    return f"the node at {wallet.client.url} refused the transaction: {text}"
