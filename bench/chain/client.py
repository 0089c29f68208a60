"""A typed JSON-RPC client: connection checks, hand-managed nonces, fast receipt polling,
and reverts decoded into :class:`ChainError` carrying the custom error's name.

Chain faults are survived: every call is retried with exponential backoff while the node
is unreachable (up to ``retry_s``), the nonce is read from the chain again after any
failed send, and a transaction the node lost (a restart from saved state) is sent again,
re-signed at the chain's nonce where its own was lost, until it is mined."""

from __future__ import annotations

import collections
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import requests
from eth_abi import decode as abi_decode
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_typing import URI
from hexbytes import HexBytes
from web3 import HTTPProvider, Web3
from web3.exceptions import ContractLogicError, TransactionNotFound, Web3Exception
from web3.types import RPCEndpoint

from bench.chain.artifacts import error_table
from bench.errors import ChainError

CONTRACTS = ("GridMarket", "LabCredit")
RECEIPT_POLL_S = 0.002
DEFAULT_TIP_WEI = 10**9
FEE_REFRESH_S = 5.0
RETRY_S = 30.0
"""How long a call keeps retrying an unreachable node before it fails."""
CONNECT_RETRY_S = 3.0
"""The same for the first contact (a wrong URL should fail fast)."""
BACKOFF_FIRST_S = 0.05
BACKOFF_MAX_S = 2.0
RESEND_AFTER_S = 2.0
"""A transaction unknown to the node this long after it was sent is sent again."""
HISTORY_TXS = 256
"""Transactions each wallet keeps after they were mined, to send again the ones a node
restarted from older state lost."""
_TRANSIENT = (requests.ConnectionError, requests.Timeout)
_LOOPBACK = frozenset({"127.0.0.1", "localhost", "::1"})


class RetryingHTTPProvider(HTTPProvider):
    """An HTTP provider that retries every call (sends too: a raw transaction sent twice
    is one transaction) with exponential backoff while the node cannot be reached, then
    raises :class:`ChainError`."""

    def __init__(self, url: str, *, timeout_s: float, retry_s: float = RETRY_S) -> None:
        session = requests.Session()
        # a node on this host is never behind a proxy: requests would otherwise read the
        # proxy settings from the environment again for every call (a tenth of the
        # settlement's CPU)
        session.trust_env = urlsplit(url).hostname not in _LOOPBACK
        super().__init__(
            url,
            request_kwargs={"timeout": timeout_s},
            session=session,
            exception_retry_configuration=None,
            # web3 validates every eth_call against the chain id, one more call each
            cache_allowed_requests=True,
            cacheable_requests={RPCEndpoint("eth_chainId")},
        )
        self.retry_s = retry_s
        self.retries = 0
        """Calls that failed and were tried again (for tests and status lines)."""

    def _make_request(self, method: RPCEndpoint, request_data: bytes) -> bytes:
        deadline = time.monotonic() + self.retry_s
        pause_s = BACKOFF_FIRST_S
        url = URI(self.endpoint_uri or "")
        while True:
            try:
                return self._request_session_manager.make_post_request(
                    url, request_data, **self.get_request_kwargs()
                )
            except _TRANSIENT as exc:
                left_s = deadline - time.monotonic()
                if left_s <= 0:
                    raise ChainError(
                        f"{method} to {self.endpoint_uri} failed for {self.retry_s:.0f} s "
                        f"({type(exc).__name__}): the node is down or unreachable; restart it "
                        "(with its saved state) or check --chain-url, then resume the run"
                    ) from exc
                self.retries += 1
                time.sleep(min(pause_s, left_s))
                pause_s = min(2 * pause_s, BACKOFF_MAX_S)


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


@dataclass(frozen=True)
class SignedTx:
    """A transaction a wallet signed, about to be broadcast: enough to send it again as
    it is (``raw``) or to sign it again at another nonce (``to``, ``data``, ``value``,
    ``gas``). ``replaces``: the hash of the transaction it carries, signed again."""

    sender: str
    nonce: int
    to: str | None
    data: bytes
    value_wei: int
    gas: int
    tx_hash: str
    raw: bytes
    replaces: str | None = None


class TxLog(Protocol):
    """Where every transaction the wallets of one client sign is kept (the run journal):
    :meth:`signed` before it is broadcast (a failure there stops the send), then what
    became of it if not mined as it should be."""

    def signed(self, tx: SignedTx) -> None:
        """``tx`` is signed and about to be broadcast."""

    def refused(self, tx_hash: str) -> None:
        """The node refused the transaction: it was never sent."""

    def reverted(self, tx_hash: str) -> None:
        """The transaction was mined and reverted."""


class ChainClient:
    """One connection to a JSON-RPC node (Anvil, a devnet or a testnet)."""

    def __init__(
        self,
        url: str,
        *,
        expected_chain_id: int | None = None,
        timeout_s: float = 10.0,
        retry_s: float = RETRY_S,
    ):
        self.url = url
        self.provider = RetryingHTTPProvider(url, timeout_s=timeout_s, retry_s=CONNECT_RETRY_S)
        self.w3 = Web3(self.provider)
        try:
            self.chain_id = int(self.w3.eth.chain_id)
            self.client_version = str(self.w3.client_version)
        except (ChainError, requests.RequestException, OSError, Web3Exception, ValueError) as exc:
            raise ChainError(
                f"the node at {url} is not answering ({type(exc).__name__}): start Anvil "
                "(`gridbench chain anvil`) or pass the URL of a running node with --chain-url"
            ) from exc
        self.provider.retry_s = retry_s
        self.tx_log: TxLog | None = None
        """Told of every transaction a wallet on this client signs (see :class:`TxLog`)."""
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


@dataclass(frozen=True)
class _Sent:
    """A transaction sent and not yet seen mined: enough to send it again."""

    tx: dict[str, Any]
    raw: bytes
    tx_hash: str


class Wallet:
    """An account that signs and sends its own transactions with a local nonce counter.

    The counter is read from the chain again after any failed send; transactions sent
    and not yet mined are kept, so :meth:`wait` can send again one the node lost."""

    def __init__(
        self, client: ChainClient, account: LocalAccount, *, tip_wei: int = DEFAULT_TIP_WEI
    ):
        self.client = client
        self.account = account
        self.address = account.address
        self._lock = threading.RLock()
        self._nonce: int | None = self._chain_nonce("pending")
        self.tip_wei = tip_wei
        self._max_fee_wei = 0
        self._fee_checked_at = -FEE_REFRESH_S
        self._unmined: dict[str, _Sent] = {}
        self._history: collections.deque[_Sent] = collections.deque(maxlen=HISTORY_TXS)
        self._replaced: dict[str, str] = {}
        self.resent = 0
        """Transactions sent again after the node lost them (for tests and reports)."""
        self.before_send: Callable[[dict[str, Any], str], None] | None = None
        """Called with each new transaction and its hash once signed, before it is sent
        (the run journals a settlement's intent there)."""

    def _chain_nonce(self, block: str) -> int:
        return int(self.client.w3.eth.get_transaction_count(self.address, block))  # type: ignore[arg-type]

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

    def send(
        self, to: str | None, data: bytes, *, gas: int, value: int = 0, replaces: str | None = None
    ) -> str:
        """Sign and send one transaction; returns its hash without waiting. ``replaces``:
        the hash of a lost transaction this one carries (for the client's log)."""
        with self._lock:
            if self._nonce is None:  # after a failure: the chain says
                self._nonce = self._chain_nonce("pending")
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
            sent = self._sign(tx)
            if self.before_send is not None:
                self.before_send(tx, sent.tx_hash)
            self._log(sent, replaces)
            try:
                self._broadcast(sent)
            except ChainError:
                self._nonce = None
                if self.client.tx_log is not None:
                    self.client.tx_log.refused(sent.tx_hash)
                raise
            self._nonce += 1
            self._unmined[sent.tx_hash] = sent
            self._history.append(sent)
        return sent.tx_hash

    def send_again(self, lost: SignedTx) -> str:
        """Send ``lost`` (one of this wallet's transactions a node restarted from older
        state never had) again: as it was signed when its nonce is the chain's next, else
        signed again at the chain's nonce (logged as replacing it). Returns the hash sent,
        not awaited."""
        if lost.sender.lower() != self.address.lower():
            raise ChainError(f"transaction {lost.tx_hash} is {lost.sender}'s, not {self.address}'s")
        with self._lock:
            nonce = self._chain_nonce("pending")
            tx: dict[str, Any] = {
                "chainId": self.client.chain_id,
                "nonce": nonce,
                "gas": lost.gas,
                "maxFeePerGas": self._max_fee(),
                "maxPriorityFeePerGas": self.tip_wei,
                "data": lost.data,
                "value": lost.value_wei,
            }
            if lost.to is not None:
                tx["to"] = lost.to
            if lost.nonce == nonce:
                again = _Sent(tx, lost.raw, lost.tx_hash)
            else:
                again = self._sign(tx)
                self._log(again, replaces=lost.tx_hash)
            self._broadcast(again)
            self._nonce = nonce + 1
            self._unmined[again.tx_hash] = again
            self._history.append(again)
            self.resent += 1
        return again.tx_hash

    def _log(self, sent: _Sent, replaces: str | None = None) -> None:
        """Tell the client's transaction log of a transaction signed (before it goes out)."""
        if self.client.tx_log is None:
            return
        tx = sent.tx
        to = tx.get("to")
        self.client.tx_log.signed(
            SignedTx(
                self.address,
                int(tx["nonce"]),
                None if to is None else str(to),
                bytes(tx.get("data", b"")),
                int(tx.get("value", 0)),
                int(tx["gas"]),
                sent.tx_hash,
                sent.raw,
                replaces,
            )
        )

    def _sign(self, tx: dict[str, Any]) -> _Sent:
        signed = self.account.sign_transaction(tx)
        return _Sent(tx, bytes(signed.raw_transaction), "0x" + bytes(signed.hash).hex())

    def _broadcast(self, sent: _Sent) -> None:
        """Send raw; a node that already has it (a retried send that got through) is fine."""
        try:
            self.client.w3.eth.send_raw_transaction(sent.raw)
        except (ValueError, Web3Exception) as exc:
            text = str(exc).lower()
            if "already known" in text or "known transaction" in text:
                return
            if "nonce too low" in text and self._receipt(sent.tx_hash) is not None:
                return  # a send retried after the first one got through and was mined
            raise ChainError(_send_message(exc, self)) from exc
        except (requests.RequestException, OSError) as exc:
            raise ChainError(
                f"sending a transaction to {self.client.url} failed ({exc}): check the node"
            ) from exc

    def wait(self, tx_hash: str, timeout_s: float = 60.0) -> Receipt:
        """Poll for the receipt every 2 ms; a reverted transaction raises ChainError.

        A transaction the node does not know (lost in a restart) is sent again every
        :data:`RESEND_AFTER_S`, re-signed at the chain's nonce if its own was lost; the
        receipt is then that of the transaction that carried it."""
        deadline = time.monotonic() + timeout_s
        check_at = time.monotonic() + RESEND_AFTER_S
        current = tx_hash
        while True:
            current = self._replaced.get(current, current)
            raw = self._receipt(current)
            if raw is not None:
                break
            now = time.monotonic()
            if now > deadline:
                raise ChainError(
                    f"transaction {tx_hash} was not mined within {timeout_s:.0f} s: check that "
                    "the node mines (Anvil automine) and that the gas price is high enough"
                )
            if now >= check_at:
                current = self._revive(current)
                check_at = now + RESEND_AFTER_S
            time.sleep(RECEIPT_POLL_S)
        with self._lock:
            for h in {tx_hash, current}:
                self._unmined.pop(h, None)
        receipt = Receipt(
            tx_hash=current,
            block_number=int(raw["blockNumber"]),
            gas_used=int(raw["gasUsed"]),
            logs=tuple(raw["logs"]),
        )
        if raw["status"] != 1:
            if self.client.tx_log is not None:
                self.client.tx_log.reverted(current)
            raise self._explain_failure(current, raw)
        return receipt

    def _receipt(self, tx_hash: str) -> Any:
        try:
            return self.client.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
        except TransactionNotFound:
            return None

    def _known(self, tx_hash: str) -> bool:
        try:
            self.client.w3.eth.get_transaction(HexBytes(tx_hash))
        except TransactionNotFound:
            return False
        return True

    def _revive(self, tx_hash: str) -> str:
        """Send ``tx_hash`` again unless the node will mine it; the hash now carrying it.

        Every unmined transaction of this wallet, and every mined one the chain no longer
        has (a node restarted from older state), goes out again in nonce order from the
        chain's nonce: as it was where its nonce is the next one, re-signed at the next
        nonce where the chain moved past it or a lost predecessor left a gap. On Anvil the
        wallet's pool entries are removed first, so a stranded original can never be mined
        after its replacement; another node's pool keeps a transaction it still holds. The
        local counter then follows the chain."""
        with self._lock:
            sent = self._unmined.get(tx_hash)
            if sent is None or (
                self._known(tx_hash) and self._chain_nonce("pending") > int(sent.tx["nonce"])
            ):
                return tx_hash  # the node has it, with no gap before it: it will be mined
            if self.client.is_anvil:
                self.client.rpc("anvil_removePoolTransactions", [self.address])
            nonce = self._chain_nonce("latest")
            # the unmined, and the mined ones a node restarted from older state lost
            lost_mined = [
                s
                for s in self._history
                if int(s.tx["nonce"]) >= nonce and s.tx_hash not in self._replaced
            ]
            waiting = {s.tx_hash: s for s in [*lost_mined, *self._unmined.values()]}
            for lost in sorted(waiting.values(), key=lambda s: int(s.tx["nonce"])):
                if self._receipt(lost.tx_hash) is not None:  # mined meanwhile
                    self._unmined.pop(lost.tx_hash, None)
                    continue
                if int(lost.tx["nonce"]) == nonce or (
                    not self.client.is_anvil and self._known(lost.tx_hash)
                ):
                    again = lost
                else:
                    again = self._sign({**lost.tx, "nonce": nonce})
                    self._log(again, replaces=lost.tx_hash)
                if self.client.is_anvil or not self._known(again.tx_hash):
                    self._broadcast(again)
                    self.resent += 1
                if again.tx_hash != lost.tx_hash:
                    self._unmined.pop(lost.tx_hash, None)
                    self._unmined[again.tx_hash] = again
                    self._history.append(again)
                    self._replaced[lost.tx_hash] = again.tx_hash
                nonce = max(nonce, int(again.tx["nonce"])) + 1
            self._nonce = nonce
            return self._replaced.get(tx_hash, tx_hash)

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
