"""Reconcile a journal with the chain: the ledger of record.

For every interval settled on the market (its IntervalSettled events) the settle
transaction's calldata is decoded and checked against the stored batch hash and the
events (:func:`bench.chain.audit.audit_interval`); the trades it settled, its
transaction, batch hash and totals are then compared with the journal's. An interval on
one side only, or a trade settled on one side only, is a finding with its amount.

Each settlement also committed the journal's chained digest as the run had written it
then (its records of every earlier interval), and the run's end committed the digest
through its last interval (``JournalCommitted``). The audit recomputes the chain from
the journal's rows and the recorded config's hash (never from the stored digests, which
anyone editing the file can rewrite) and compares it with what the chain committed: an
edited, added or removed record is a ``journal_digest_mismatch`` even offline against a
chain the bench no longer controls.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence

from web3.exceptions import Web3Exception

from bench.attestation import meter_id_bytes32
from bench.chain import Market
from bench.chain.audit import audit_interval
from bench.errors import BenchError
from bench.store import Journal, RecordedInterval
from bench.store.digest import chain_digest, genesis
from pricing import Finding, Trade
from pricing.units import labc, labc_per_kwh

NO_DIGEST = "0x" + "00" * 32


def journal_heads(
    journal: Journal, intervals: Sequence[RecordedInterval], config_hash: str
) -> tuple[dict[int, str], str]:
    """The digest chain recomputed from the journal's rows: (interval id -> the digest
    before it, which its settlement committed; the digest through the last interval)."""
    heads: dict[int, str] = {}
    previous = genesis(config_hash)
    for kept in sorted(intervals, key=lambda k: k.interval_id):
        heads[kept.interval_id] = "0x" + previous
        previous = chain_digest(journal.interval_payload(kept.interval_id), previous)
    return heads, "0x" + previous


def _digest_findings(
    market: Market,
    committed: Mapping[int, str],
    heads: Mapping[int, str],
    final_head: str,
) -> list[Finding]:
    """The chain's committed journal digests against the journal's recomputed ones: the
    first interval whose committed digest differs (the edit lies before it), else the
    last interval's against JournalCommitted."""
    for i in sorted(set(committed) & set(heads)):
        if committed[i] != heads[i]:  # every later digest chains over the same edit
            return [
                Finding(
                    i,
                    "journal_digest_mismatch",
                    f"the journal's records before interval {i} hash to {heads[i][:18]}…, "
                    f"its settlement committed {committed[i][:18]}…: a record of an earlier "
                    "interval (or the config) was edited, added or removed after the run",
                )
            ]
    findings: list[Finding] = []
    if heads:
        last = max(heads)
        through = market.settler.journal_commits().get(last)
        if through is None:
            findings.append(
                Finding(
                    last,
                    "journal_digest_mismatch",
                    f"no digest through interval {last} was committed on chain (the run "
                    "ended before committing it): its record cannot be checked",
                )
            )
        elif through != final_head:
            findings.append(
                Finding(
                    last,
                    "journal_digest_mismatch",
                    f"the journal through interval {last} hashes to {final_head[:18]}…, "
                    f"the chain committed {through[:18]}…: the last interval's record was "
                    "edited after the run",
                )
            )
    return findings


def reconcile(
    url: str,
    market_address: str,
    intervals: Sequence[RecordedInterval],
    amounts: Mapping[int, Sequence[tuple[Trade, int, str]]],
    settlements: Mapping[int, tuple[float, str, str, int, int, int]],
    participant_meters: Mapping[str, str],
    *,
    heads: tuple[Mapping[int, str], str] | None = None,
    recovered: Mapping[int, tuple[str, str, int, int, int, bool]] | None = None,
    resettled: Mapping[int, str] | None = None,
) -> tuple[list[Finding], bool]:
    """(findings, reached): ``reached`` is False when the chain could not be read.
    ``participant_meters``: each participant and the meter backing its trades; the chain's
    owner of that meter is its wallet, so the chain's trades are compared by name.
    ``heads``: the journal's recomputed digest chain (:func:`journal_heads`), compared
    with the digests the chain committed. ``recovered``: the settlements a resume
    recorded for a killed run (:meth:`Journal.recovered_settlements`), checked against
    the chain's by transaction, batch and value. ``resettled``: recorded intervals a
    resume settled again, by the same calldata, on a chain that had lost them
    (:meth:`Journal.resettled`): the chain has them in that transaction."""
    try:
        market = Market.attach(url, market_address)
        on_chain = market.settled_intervals()
        for name, meter in participant_meters.items():
            owner = market.contract.functions.meterOwner(meter_id_bytes32(meter)).call()
            if int(owner, 16):
                market.accounts.name_wallet(name, owner)
    except (BenchError, Web3Exception, OSError, ValueError) as exc:
        return [Finding(0, "chain_unreachable", f"cannot read the market at {url}: {exc}")], False
    known = set(participant_meters)
    findings: list[Finding] = []
    recorded = {k.interval_id for k in intervals if k.interval_id in settlements}
    committed: dict[int, str] = {}
    recovered = {i: r for i, r in (recovered or {}).items() if i not in recorded}
    for i, (tx, batch, _, value, _, _) in sorted(recovered.items()):
        if i not in on_chain:
            findings.append(
                Finding(
                    i,
                    "chain_missing",
                    f"the recovered settlement {tx} is not on chain",
                    amount=value,
                )
            )
            continue
        chain = audit_interval(market, i).settlement
        findings += _trade_findings(i, chain.settled_trades, amounts.get(i, ()), known)
        if (tx, batch, value) != (chain.tx_hash, chain.batch_hash, chain.value_settled_wei):
            findings.append(
                Finding(
                    i,
                    "chain_mismatch",
                    f"the resume recorded tx {tx} batch {batch} for {labc(value)} LABC, the chain "
                    f"settled it in tx {chain.tx_hash} batch {chain.batch_hash} for "
                    f"{labc(chain.value_settled_wei)} LABC",
                )
            )
    for i in sorted(set(on_chain) - recorded - set(recovered)):
        settled = audit_interval(market, i).settlement
        findings.append(
            Finding(
                i,
                "chain_extra",
                f"settled on chain (tx {settled.tx_hash}) but not in the journal: "
                f"{len(settled.settled_trades)} trades, {labc(settled.value_settled_wei)} LABC",
                amount=settled.value_settled_wei,
            )
        )
    for i in sorted(recorded - set(on_chain)):
        _, tx, _, _, value, _ = settlements[i]
        findings.append(
            Finding(
                i, "chain_missing", f"the journal's settlement {tx} is not on chain", amount=value
            )
        )
    for i in sorted(recorded & set(on_chain)):
        checked = audit_interval(market, i)
        chain = checked.settlement
        committed[i] = chain.journal_digest
        findings += [Finding(i, "chain_mismatch", f"on chain: {f}") for f in checked.findings]
        _, tx, batch, _, _, _ = settlements[i]
        tx = (resettled or {}).get(i, tx)
        if (tx, batch) != (chain.tx_hash, chain.batch_hash):
            findings.append(
                Finding(
                    i,
                    "chain_mismatch",
                    f"the journal records tx {tx} batch {batch}, the chain settled it in tx "
                    f"{chain.tx_hash} batch {chain.batch_hash}",
                )
            )
        findings += _trade_findings(i, chain.settled_trades, amounts.get(i, ()), known)
    if heads is not None:
        findings += _digest_findings(market, committed, *heads)
    return findings, True


def _trade_findings(
    interval_id: int,
    on_chain: Sequence[Trade],
    amounts: Sequence[tuple[Trade, int, str]],
    participants: set[str],
) -> list[Finding]:
    """The trades the chain settled in an interval against the journal's amounts."""
    # a market attached without the run's keys names wallets by address: then the
    # trades are compared by energy and price only
    named = all({t.buyer, t.seller} <= participants for t in on_chain)
    theirs = Counter(_key(t, named) for t in on_chain)
    ours = Counter(_key(t, named) for t, _, _ in amounts)
    findings = [
        Finding(
            interval_id,
            "chain_mismatch",
            f"settled on chain but not in the journal: {trade.buyer}←{trade.seller} "
            f"{trade.energy_wh} Wh at {labc_per_kwh(trade.price_wei_per_wh)} LABC/kWh",
            amount=n * trade.value_wei,
        )
        for trade, n in (theirs - ours).items()
    ]
    findings += [
        Finding(
            interval_id,
            "chain_mismatch",
            f"in the journal but not settled on chain: {trade.buyer}←{trade.seller} "
            f"{trade.energy_wh} Wh at {labc_per_kwh(trade.price_wei_per_wh)} LABC/kWh",
            amount=-n * trade.value_wei,
        )
        for trade, n in (ours - theirs).items()
    ]
    return findings


def _key(trade: Trade, named: bool) -> Trade:
    if named:
        return trade
    return Trade("?", "?", trade.energy_wh, trade.price_wei_per_wh)
