"""Interval settlement: packing and signing a batch, sending it once, reading the result."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_utils import keccak

from bench.attestation import SignedCounters
from bench.chain.accounts import Accounts
from bench.chain.client import Receipt
from bench.chain.deployment import encode_call
from bench.chain.encoding import BatchEncodingError
from bench.chain.events import DecodedLog, decode_log, reason_texts, topic
from bench.chain.orders import (
    SIDE_BID,
    SIDE_OFFER,
    SignedBook,
    covering_orders,
    encode_batch,
    sign_order,
    submitted_orders,
)
from bench.chain.registry import MeterRegistry, counters_tuple
from bench.errors import ChainError
from pricing import Order as BookOrder
from pricing import Trade

SETTLE_TYPES = (
    "uint64",
    "bytes",
    "(bytes32,uint32,uint64,uint64,uint64,uint8,bytes32,bytes32)[]",
    "bytes32",
)
SETTLE_SELECTOR = keccak(text=f"settle({','.join(SETTLE_TYPES)})")[:4]
TX_GAS_CAP = 2**24  # EIP-7825: the most gas one transaction may use (Osaka and later)
NO_DIGEST = bytes(32)


@dataclass(frozen=True)
class Settlement:
    """What one interval's settlement transaction did."""

    interval_id: int
    tx_hash: str
    batch_hash: str
    block_number: int
    settled_trades: tuple[Trade, ...]
    rejected_trades: tuple[tuple[Trade, str], ...]
    gas_used: int
    value_settled_wei: int
    energy_settled_wh: int
    rejected_readings: tuple[tuple[str, str], ...] = ()
    journal_digest: str = "0x" + NO_DIGEST.hex()


@dataclass(frozen=True)
class SettledInterval:
    """One IntervalSettled event: what the panel lists without fetching the trades."""

    interval_id: int
    tx_hash: str
    batch_hash: str
    block_number: int
    settled_count: int
    rejected_count: int
    value_settled_wei: int
    energy_settled_wh: int
    journal_digest: str
    """The journal digest committed with the settlement (0x00… for none)."""

    @classmethod
    def of(cls, event: DecodedLog) -> SettledInterval:
        """From a decoded IntervalSettled event."""
        a = event.args
        return cls(
            interval_id=a["intervalId"],
            tx_hash=event.tx_hash,
            batch_hash="0x" + a["batchHash"].hex(),
            block_number=event.block_number,
            settled_count=a["settledTrades"],
            rejected_count=a["rejectedTrades"],
            value_settled_wei=a["valueWei"],
            energy_settled_wh=a["energyWh"],
            journal_digest="0x" + a["journalDigest"].hex(),
        )


def encode_settle(
    interval_id: int,
    batch: bytes,
    readings: Sequence[tuple[Any, ...]],
    journal_digest: bytes = NO_DIGEST,
) -> bytes:
    """Calldata of ``settle``: the ABI's head and tail written directly (eth_abi checks
    every field of every reading, a tenth of an interval's client time; the test suite
    checks both give the same bytes). ``readings`` are ``counters_tuple`` tuples."""
    padded = batch + bytes(-len(batch) % 32)
    head = 4 * 32  # interval, offset of batch, offset of readings, journal digest
    words = [
        _uint(interval_id, 64),
        _uint(head, 256),
        _uint(head + 32 + len(padded), 256),
        _bytes32(journal_digest),
        _uint(len(batch), 256),
        padded,
        _uint(len(readings), 256),
    ]
    for meter_id, seq, import_wh, export_wh, time_s, v, r, s in readings:
        words += [
            _bytes32(meter_id),
            _uint(seq, 32),
            _uint(import_wh, 64),
            _uint(export_wh, 64),
            _uint(time_s, 64),
            _uint(v, 8),
            _bytes32(r),
            _bytes32(s),
        ]
    return SETTLE_SELECTOR + b"".join(words)


def encode_settle_abi(
    interval_id: int,
    batch: bytes,
    readings: Sequence[tuple[Any, ...]],
    journal_digest: bytes = NO_DIGEST,
) -> bytes:
    """The same calldata through eth_abi (the oracle of :func:`encode_settle`)."""
    return SETTLE_SELECTOR + abi_encode(
        SETTLE_TYPES, [interval_id, batch, list(readings), journal_digest]
    )


def _uint(value: int, bits: int) -> bytes:
    if not 0 <= value < 1 << bits:
        raise ChainError(f"{value} does not fit the contract's uint{bits}: check its units")
    return value.to_bytes(32, "big")


def _bytes32(value: bytes) -> bytes:
    if len(value) != 32:
        raise ChainError(f"a bytes32 field got {len(value)} bytes")
    return bytes(value)


def digest_bytes(journal_digest: str | bytes | None) -> bytes:
    """A journal digest (hex, with or without 0x, or 32 bytes; None: none) as bytes32."""
    if journal_digest is None:
        return NO_DIGEST
    raw = (
        journal_digest
        if isinstance(journal_digest, bytes)
        else bytes.fromhex(journal_digest.removeprefix("0x"))
    )
    if len(raw) != 32:
        raise ChainError(f"a journal digest is 32 bytes (SHA-256), got {len(raw)}")
    return raw


def settle_gas_bound(trades: int, participants: int, calldata_bytes: int, readings: int = 0) -> int:
    """A safe gas limit for ``settle`` (measured: about 900 gas per trade, 16,000 per
    reading, 10,000 per signed order side, up to 60,000 more for a reading whose owner is
    not in the batch or in its first interval),
    capped at EIP-7825's per-transaction limit."""
    bound = 100_000 + 16 * calldata_bytes + 1_200 * trades + 60_000 * participants
    return min(bound + 70_000 * readings, TX_GAS_CAP)


Readings = Iterable[SignedCounters] | Mapping[str, SignedCounters]


class Settler:
    """Settles intervals from the settler's wallet, exactly once each."""

    def __init__(self, accounts: Accounts, registry: MeterRegistry, logs: Any) -> None:
        self.accounts = accounts
        self.registry = registry
        self.market = accounts.market
        self._logs = logs
        self.trade_reasons = reason_texts(self.market, "REJECT")
        self.reading_reasons = reason_texts(self.market, "READING")

    def settle_interval(
        self,
        interval_id: int,
        trades: Sequence[Trade],
        readings: Readings = (),
        *,
        book: SignedBook | None = None,
        journal_digest: str | bytes | None = None,
    ) -> Settlement:
        """Settle one interval's trades in one transaction (see Market.settle_interval)."""
        readings = list(readings.values() if isinstance(readings, Mapping) else readings)
        data, indices = self.settle_calldata(
            interval_id, trades, readings, book=book, journal_digest=journal_digest
        )
        gas = settle_gas_bound(len(trades), len(indices), len(data), len(readings))
        operator = self.accounts.operator
        receipt = operator.wait(operator.send(self.market.address, data, gas=gas))
        return self.from_receipt(interval_id, trades, receipt)

    def sign_book(
        self,
        interval_id: int,
        trades: Sequence[Trade] = (),
        *,
        submitted: Iterable[BookOrder] | None = None,
    ) -> SignedBook:
        """Each participant's own signature over its bid and offer: those it ``submitted``
        to the clearing (so the contract checks the operator's trades against them), or,
        without ``submitted``, the ones that exactly cover its ``trades``."""
        sides_of = covering_orders(trades) if submitted is None else submitted_orders(submitted)
        orders = {
            name: sign_order(
                self.accounts.wallet(name).account,
                chain_id=self.accounts.client.chain_id,
                market=self.market.address,
                interval_id=interval_id,
                bid=sides.get(SIDE_BID, (0, 0)),
                offer=sides.get(SIDE_OFFER, (0, 0)),
            )
            for name, sides in sides_of.items()
        }
        return SignedBook(orders)

    def settle_calldata(
        self,
        interval_id: int,
        trades: Sequence[Trade],
        readings: Readings = (),
        *,
        book: SignedBook | None = None,
        journal_digest: str | bytes | None = None,
    ) -> tuple[bytes, tuple[int, ...]]:
        """The ``settle`` call data for an interval and the participant indices it packs."""
        book = self.sign_book(interval_id, trades) if book is None else book
        names = {n for t in trades for n in (t.buyer, t.seller)} | set(book.orders)
        index_of = {name: self.accounts.index(name) for name in names}
        try:
            batch, indices = encode_batch(trades, index_of, book)
        except BatchEncodingError as exc:
            raise ChainError(f"interval {interval_id} cannot be settled: {exc}") from exc
        given = readings.values() if isinstance(readings, Mapping) else readings
        readings_abi = [counters_tuple(r) for r in given]
        digest = digest_bytes(journal_digest)
        return encode_settle(interval_id, batch, readings_abi, digest), indices

    def from_receipt(
        self, interval_id: int, trades: Sequence[Trade], receipt: Receipt
    ) -> Settlement:
        """The Settlement of ``trades`` (in batch order) told by a settle receipt's events."""
        rejected: dict[int, str] = {}
        bad_readings: list[tuple[str, str]] = []
        summary: SettledInterval | None = None
        for log in receipt.logs:
            event = decode_log(log) if log["address"] == self.market.address else None
            if event is None:
                continue
            if event.name == "TradesRejected":
                codes = event.args["reasons"]
                rejected = {n: self._why(self.trade_reasons, c) for n, c in enumerate(codes) if c}
            elif event.name == "ReadingRejected":
                why = self._why(self.reading_reasons, event.args["reason"])
                bad_readings.append((event.args["meterId"], why))
            elif event.name == "IntervalSettled":
                summary = SettledInterval.of(event)
        if summary is None:
            raise ChainError(
                f"settlement of interval {interval_id} ({receipt.tx_hash}) emitted no "
                f"IntervalSettled event: is {self.market.address} really a GridMarket?"
            )
        return Settlement(
            interval_id=interval_id,
            tx_hash=receipt.tx_hash,
            batch_hash=summary.batch_hash,
            block_number=receipt.block_number,
            settled_trades=tuple(t for n, t in enumerate(trades) if n not in rejected),
            rejected_trades=tuple((trades[n], why) for n, why in sorted(rejected.items())),
            gas_used=receipt.gas_used,
            value_settled_wei=summary.value_settled_wei,
            energy_settled_wh=summary.energy_settled_wh,
            rejected_readings=tuple(bad_readings),
            journal_digest=summary.journal_digest,
        )

    @staticmethod
    def _why(table: Mapping[int, str], code: int) -> str:
        return table.get(code, f"reason {code}")

    def commit_journal(self, through_interval_id: int, journal_digest: str | bytes) -> str:
        """Commit the journal's digest through its last settled interval (the one no later
        settlement carries); returns the transaction hash."""
        data = encode_call(
            self.market, "commitJournal", through_interval_id, digest_bytes(journal_digest)
        )
        return self.accounts.operator.transact(self.market.address, data).tx_hash

    def journal_commits(self) -> dict[int, str]:
        """Through interval id -> the journal digest committed for it (JournalCommitted)."""
        out: dict[int, str] = {}
        for event in map(decode_log, self._logs(topic("JournalCommitted"))):
            if event is not None:
                out[event.args["throughIntervalId"]] = "0x" + event.args["journalDigest"].hex()
        return out

    def is_settled(self, interval_id: int) -> bool:
        """True once ``interval_id`` has been settled on chain."""
        return bool(self.market.functions.isSettled(interval_id).call())

    def events(self, interval_id: int | None = None) -> list[SettledInterval]:
        """Every settlement (or those of ``interval_id``) from the events, in chain order."""
        filters = [] if interval_id is None else ["0x" + interval_id.to_bytes(32, "big").hex()]
        logs = self._logs(topic("IntervalSettled"), *filters)
        return [SettledInterval.of(e) for e in map(decode_log, logs) if e is not None]

    def settle_unsettled(
        self,
        intervals: Mapping[int, Sequence[Trade]],
        readings: Mapping[int, Readings] | None = None,
    ) -> list[Settlement]:
        """Exactly once across restarts: settle, in order, only the intervals not yet on chain."""
        done: list[Settlement] = []
        for interval_id in sorted(intervals):
            if self.is_settled(interval_id):
                continue
            try:
                done.append(
                    self.settle_interval(
                        interval_id, intervals[interval_id], (readings or {}).get(interval_id, ())
                    )
                )
            except ChainError as exc:
                # Settled meanwhile: a transaction sent before a crash was mined first.
                if exc.error_name != "IntervalAlreadySettled":
                    raise
        return done
