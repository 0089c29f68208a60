"""Audit of settled intervals from the chain alone: the stored commitment, the settle
transaction's calldata and its events must tell one consistent story."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak
from hexbytes import HexBytes

from bench.chain.encoding import BatchEncodingError, decode_batch
from bench.chain.market import (
    TOPIC_REJECTED,
    TOPIC_SETTLED,
    Market,
    Settlement,
    _word,
    rejection_reasons,
)
from bench.errors import ChainError
from pricing import Trade


@dataclass(frozen=True)
class IntervalAudit:
    """One settled interval rebuilt from the chain, and every inconsistency found."""

    settlement: Settlement
    findings: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.findings


def audit_interval(market: Market, interval_id: int) -> IntervalAudit:
    """Rebuild interval ``interval_id`` from its settle transaction and check it."""
    topic = "0x" + interval_id.to_bytes(32, "big").hex()
    logs = market.event_logs(TOPIC_SETTLED, topic)
    if not logs:
        raise ChainError(
            f"interval {interval_id} is not settled on the market at {market.address}: "
            "settle it first (Market.settle_unsettled)"
        )
    findings: list[str] = []
    if len(logs) > 1:
        findings.append(f"{len(logs)} IntervalSettled events for one interval")
    event = logs[0]
    summary = bytes(event["data"])
    tx = market.w3.eth.get_transaction(event["transactionHash"])
    receipt = market.w3.eth.get_transaction_receipt(event["transactionHash"])
    _, args = market.contract.decode_function_input(HexBytes(tx["input"]))
    batch = bytes(args["batch"])
    committed = bytes(market.contract.functions.batchHash(interval_id).call())
    if keccak(batch) != committed or summary[:32] != committed:
        findings.append("the settle calldata does not hash to the stored commitment")
    try:
        packed = decode_batch(batch)
    except BatchEncodingError as exc:
        findings.append(f"the committed batch does not decode: {exc}")
        packed = ()
    rejected: dict[int, str] = {}
    for log in receipt["logs"]:
        if log["address"] == market.address and bytes(log["topics"][0]) == TOPIC_REJECTED:
            rejected = rejection_reasons(bytes(log["data"]))
    trades = tuple(
        Trade(
            market.participant_name(p.buyer_index),
            market.participant_name(p.seller_index),
            p.energy_wh,
            p.price_wei_per_wh,
        )
        for p in packed
    )
    settled = tuple(t for n, t in enumerate(trades) if n not in rejected)
    value = sum(t.value_wei for t in settled)
    energy = sum(t.energy_wh for t in settled)
    if (value, energy) != (_word(summary, 3), _word(summary, 4)):
        findings.append(
            f"event totals ({_word(summary, 3)} wei, {_word(summary, 4)} Wh) differ from the "
            f"calldata's settled trades ({value} wei, {energy} Wh)"
        )
    if len(settled) != _word(summary, 1) or len(rejected) != _word(summary, 2):
        findings.append("settled/rejected counts differ from the TradesRejected event")
    settlement = Settlement(
        interval_id=interval_id,
        tx_hash="0x" + bytes(event["transactionHash"]).hex(),
        batch_hash="0x" + committed.hex(),
        block_number=int(event["blockNumber"]),
        settled_trades=settled,
        rejected_trades=tuple((trades[n], why) for n, why in sorted(rejected.items())),
        gas_used=int(receipt["gasUsed"]),
        value_settled_wei=_word(summary, 3),
        energy_settled_wh=_word(summary, 4),
    )
    return IntervalAudit(settlement, tuple(findings))
