"""Every transaction of a run journaled before it goes out, and sent again by a resume to
a chain restarted from a state older than some of them.

The run's wallets tell their client's :class:`~bench.chain.client.TxLog` of each
transaction they sign; :class:`JournalTxLog` hands it on as a ``TransactionSigned`` event
(journaled and committed, table ``sent_tx``) before it is broadcast. A resume whose
Anvil came back from an older saved state calls :func:`send_lost_again`: each journaled
transaction the chain does not have goes out again once, in journal order.
"""

from __future__ import annotations

from collections.abc import Callable, Set

from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from bench.chain import Market
from bench.chain.client import Receipt, SignedTx, Wallet
from bench.chain.settlement import SETTLE_SELECTOR
from bench.errors import ChainError
from bench.events import TransactionOutcome, TransactionSigned
from bench.store import Journal, SentTx

TxEvent = TransactionSigned | TransactionOutcome
StatusSink = Callable[[str], None]


class JournalTxLog:
    """A :class:`~bench.chain.client.TxLog` that hands each transaction to ``sink`` (the
    run's recorders) as an event, labelled with :attr:`interval_id`."""

    def __init__(self, sink: Callable[[TxEvent], None], interval_id: int = 0) -> None:
        self.sink = sink
        self.interval_id = interval_id
        """The interval in progress (0: the run's setup); its owner moves it on."""

    def signed(self, tx: SignedTx) -> None:
        self.sink(
            TransactionSigned(
                self.interval_id,
                tx.sender,
                tx.nonce,
                tx.to,
                "0x" + tx.data.hex(),
                tx.value_wei,
                tx.gas,
                tx.tx_hash,
                "0x" + tx.raw.hex(),
                tx.replaces,
            )
        )

    def refused(self, tx_hash: str) -> None:
        self.sink(TransactionOutcome(tx_hash, "refused"))

    def reverted(self, tx_hash: str) -> None:
        self.sink(TransactionOutcome(tx_hash, "reverted"))


def into_journal(journal: Journal) -> Callable[[TxEvent], None]:
    """A sink writing each transaction event straight into ``journal`` (committed)."""

    def sink(event: TxEvent) -> None:
        if isinstance(event, TransactionSigned):
            journal.add_sent_tx(event)
        else:
            journal.set_tx_outcome(event)

    return sink


def send_lost_again(
    market: Market,
    journal: Journal,
    sent: list[SentTx],
    status: StatusSink,
    *,
    leave: Set[str] = frozenset(),
) -> int:
    """Send again, once each, in journal order and each awaited, every journaled
    transaction the chain lacks (its sender's nonce on chain not past it): as signed when
    its nonce is the sender's next, else signed again at the chain's nonce with the run's
    keys, its sender's gas topped up first as the run did (on Anvil by
    ``anvil_setBalance``, lost with the state too). Skipped: those the node refused
    (never sent), those another journaled one replaced (signed again), and ``leave``
    (pending settle intents, settled by the resume itself). A settlement of a recorded
    interval sent again is journaled as re-settled. Returns how many went out; one that
    cannot be sent again, or ends otherwise than it did, is a ChainError (the chain is
    not the journal's)."""
    replaced = {t.replaces for t in sent if t.replaces is not None}
    wallets = _wallets(market)
    recorded = set(journal.settlements())
    on_chain: dict[str, int] = {}  # sender -> its nonce on chain
    count = 0
    for t in sent:
        if t.outcome == "refused" or t.tx_hash in replaced or t.tx_hash in leave:
            continue
        sender = t.sender.lower()
        if sender not in on_chain:
            on_chain[sender] = _nonce(market, t.sender)
        if on_chain[sender] > t.nonce:
            continue  # on chain: this one, or the one that replaced it
        wallet = wallets.get(sender)
        if wallet is None:
            raise ChainError(
                f"the chain lacks the journal's transaction {t.tx_hash} (interval "
                f"{t.interval_id}) of {t.sender}, whose key is not among the run's "
                f"({journal.path}.keys) nor the operator's: it cannot be sent again; keep the "
                "journal and start a new run"
            )
        market.accounts.fund_gas(wallet.address)  # Anvil's top-ups are no transactions
        receipt = _await(wallet, t, wallet.send_again(_signed(t)))
        on_chain[sender] = _nonce(market, t.sender)
        count += 1
        interval_id = _settled_interval(market, t)
        if interval_id is not None and interval_id in recorded:
            journal.add_resettled(interval_id, receipt.tx_hash, receipt.block_number)
            journal.commit()
            status(f"interval {interval_id}, lost with the chain's state, settled again")
        else:
            status(f"transaction {t.tx_hash} of {t.sender}, lost with the chain's state: sent")
    return count


def _await(wallet: Wallet, t: SentTx, tx_hash: str) -> Receipt:
    """The receipt of ``t`` sent again as ``tx_hash``; ChainError unless it ended as the
    run's did (mined, or reverted where the journal says it reverted)."""
    what = f"the journal's transaction {t.tx_hash} (interval {t.interval_id}) of {t.sender}"
    try:
        receipt = wallet.wait(tx_hash)
    except ChainError as exc:
        mined = _raw_receipt(wallet, tx_hash)
        if t.outcome == "reverted" and mined is not None and mined["status"] != 1:
            return Receipt(tx_hash, int(mined["blockNumber"]), int(mined["gasUsed"]), ())
        raise ChainError(
            f"{what}, sent again to the chain restarted from an older state, failed ({exc}): "
            "that chain cannot be brought back to the journal's; keep the journal and the "
            "Anvil state, and start a new run"
        ) from exc
    if t.outcome == "reverted":
        raise ChainError(
            f"{what} reverted in the run but went through when sent again: the chain "
            "restarted from an older state is not the run's; keep the journal and start a "
            "new run"
        )
    return receipt


def _raw_receipt(wallet: Wallet, tx_hash: str) -> dict[str, int] | None:
    try:
        return dict(wallet.client.w3.eth.get_transaction_receipt(HexBytes(tx_hash)))  # type: ignore[arg-type]
    except TransactionNotFound:
        return None


def _wallets(market: Market) -> dict[str, Wallet]:
    """Lower-case address -> wallet of every account whose key the run has."""
    wallets = [market.operator, *(market.wallet(n) for n in market.keys.participants())]
    return {w.address.lower(): w for w in wallets}


def _nonce(market: Market, address: str) -> int:
    checksum = market.w3.to_checksum_address(address)
    return int(market.w3.eth.get_transaction_count(checksum, "latest"))


def _signed(t: SentTx) -> SignedTx:
    return SignedTx(
        t.sender,
        t.nonce,
        t.to,
        bytes.fromhex(t.data_hex.removeprefix("0x")),
        t.value_wei,
        t.gas,
        t.tx_hash,
        bytes.fromhex(t.raw_hex.removeprefix("0x")),
        t.replaces,
    )


def _settled_interval(market: Market, t: SentTx) -> int | None:
    """The interval ``t`` settles, if it is a settle call to the market."""
    data = bytes.fromhex(t.data_hex.removeprefix("0x"))
    if (t.to or "").lower() != market.address.lower() or data[:4] != SETTLE_SELECTOR:
        return None
    return int.from_bytes(data[4:36], "big")
