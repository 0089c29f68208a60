"""Audit of settled intervals from the chain alone: the stored commitment, the settle
transaction's calldata and its events (batch hash, totals, the journal digest committed
with it) must tell one consistent story."""

from __future__ import annotations

from dataclasses import dataclass

from eth_utils import keccak
from hexbytes import HexBytes

from bench.chain.client import Receipt
from bench.chain.encoding import BatchEncodingError, decode_batch
from bench.chain.events import decode_log, topic
from bench.chain.market import Market
from bench.chain.settlement import Settlement
from bench.errors import ChainError
from pricing import Trade
from pricing.units import labc


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
    interval_topic = "0x" + interval_id.to_bytes(32, "big").hex()
    logs = market.event_logs(topic("IntervalSettled"), interval_topic)
    if not logs:
        raise ChainError(
            f"interval {interval_id} is not settled on the market at {market.address}: "
            "settle it first (Market.settle_unsettled)"
        )
    findings: list[str] = []
    if len(logs) > 1:
        findings.append(f"{len(logs)} IntervalSettled events for one interval")
    event = logs[0]
    summary = decode_log(event)
    if summary is None:
        raise ChainError(f"the IntervalSettled log of interval {interval_id} does not decode")
    tx_hash = "0x" + bytes(event["transactionHash"]).hex()
    tx = market.w3.eth.get_transaction(event["transactionHash"])
    raw = market.w3.eth.get_transaction_receipt(event["transactionHash"])
    _, args = market.contract.decode_function_input(HexBytes(tx["input"]))
    batch = bytes(args["batch"])
    sent_digest = "0x" + bytes(args["journalDigest"]).hex()
    committed = bytes(market.contract.functions.batchHash(interval_id).call())
    if keccak(batch) != committed or summary.args["batchHash"] != committed:
        findings.append("the settle calldata does not hash to the stored commitment")
    try:
        packed = decode_batch(batch)
    except BatchEncodingError as exc:
        findings.append(f"the committed batch does not decode: {exc}")
        packed = ()
    indices = {i for p in packed for i in (p.buyer_index, p.seller_index)}
    names = {i: market.accounts.name(i) for i in indices}  # one lookup per participant
    trades = [
        Trade(names[p.buyer_index], names[p.seller_index], p.energy_wh, p.price_wei_per_wh)
        for p in packed
    ]
    receipt = Receipt(tx_hash, int(raw["blockNumber"]), int(raw["gasUsed"]), tuple(raw["logs"]))
    settlement = market.settler.from_receipt(interval_id, trades, receipt)
    value = sum(t.value_wei for t in settlement.settled_trades)
    energy = sum(t.energy_wh for t in settlement.settled_trades)
    if (value, energy) != (settlement.value_settled_wei, settlement.energy_settled_wh):
        findings.append(
            f"event totals ({labc(settlement.value_settled_wei)} LABC, "
            f"{settlement.energy_settled_wh} Wh) differ from the calldata's settled trades "
            f"({labc(value)} LABC, {energy} Wh)"
        )
    if sent_digest != settlement.journal_digest:
        findings.append(
            f"the IntervalSettled event commits journal digest {settlement.journal_digest}, "
            f"the settle calldata carried {sent_digest}"
        )
    counts = (len(settlement.settled_trades), len(settlement.rejected_trades))
    if counts != (summary.args["settledTrades"], summary.args["rejectedTrades"]):
        findings.append("settled/rejected counts differ from the TradesRejected event")
    return IntervalAudit(settlement, tuple(findings))
