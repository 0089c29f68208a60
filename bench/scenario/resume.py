"""Resuming a killed run: reattach to the chain and market its journal names, and settle
every interval it sent (or was about to send) but never recorded, exactly once.

The journal's intent rows (:meth:`Journal.unrecorded_intents`) hold each settle
transaction's calldata as signed before it went out. For each one the chain decides: an
interval already settled (mined before the kill) is only read back, its ``Settlement``
rebuilt from its receipt; one the chain does not have is sent again with the very same
calldata (the same signed orders and readings), so the contract's exactly-once rule holds
even against a second resume. The bench's own Anvil, gone with the bench, is restarted
from the state the run saved after its last interval (``anvil-state.json``).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from eth_abi import decode as abi_decode

from bench.chain import Anvil, Market, Settlement
from bench.chain.client import ChainClient
from bench.chain.encoding import decode_batch
from bench.chain.keys import KeyRing
from bench.chain.settlement import SETTLE_SELECTOR, SETTLE_TYPES
from bench.errors import BenchError, ChainError, ConfigError
from bench.events import SettleIntent
from bench.scenario.worker import ANVIL_STATE
from bench.store import Journal, rerun_config
from pricing import Trade

StatusSink = Callable[[str], None]
_PROBE_RETRY_S = 1.0


@dataclass(frozen=True)
class Recovered:
    """One interval settled by the resume: as the chain had it, or sent again."""

    intent: SettleIntent
    settlement: Settlement
    sent_again: bool
    """False when the chain had mined it before the kill (only read back)."""


def recover_run(run_dir: Path | str, status: StatusSink = lambda _line: None) -> list[Recovered]:
    """Settle, exactly once, each interval the run at ``run_dir`` sent but never recorded;
    journal each one's receipt and return them in order."""
    run_dir = Path(run_dir)
    path = run_dir / "journal.sqlite" if run_dir.is_dir() else run_dir
    config = rerun_config(path)
    journal = Journal(path)
    try:
        url, address = journal.meta("chain_url"), journal.meta("market_address")
        if not isinstance(url, str) or not isinstance(address, str):
            raise ConfigError(
                f"the run {run_dir} never started its chain (no chain URL or market in its "
                "journal): there is nothing to resume; start it again with --from"
            )
        intents = {i.interval_id: i for i in journal.unrecorded_intents()}  # the last each
        with _chain(url, address, path.parent, status) as (node_url, node):
            market = Market.attach(
                node_url,
                address,
                keys=KeyRing.from_folder(Path(f"{path}.keys")),
                operator_key_file=config.operator_key_file,
                allow_anvil_key=config.allow_well_known_key,
            )
            names = [p.agent.participant for p in config.participants]
            names += [config.grid.participant] if config.grid is not None else []
            for name in names:  # the market's index of each: trades read back by name
                market.accounts.index(name)
            done = [_settle_once(market, intent, status) for _, intent in sorted(intents.items())]
            for recovered in done:
                journal.add_recovered_settlement(recovered.settlement, recovered.sent_again)
            if node is not None and done:  # the chain as it is now, for the next resume
                node.dump_state(path.parent / ANVIL_STATE)
        return done
    finally:
        journal.close()


@contextlib.contextmanager
def _chain(
    url: str, address: str, run_dir: Path, status: StatusSink
) -> Iterator[tuple[str, Anvil | None]]:
    """The run's node if it still answers with the market on it, else the bench's own
    Anvil restarted from the run's saved state (stopped again on the way out)."""
    try:
        ChainClient(url, retry_s=_PROBE_RETRY_S).require_code(address, "GridMarket")
        status(f"reattached to the chain at {url}")
        yield url, None
        return
    except ChainError:
        pass
    state = run_dir / ANVIL_STATE
    if not state.is_file():
        raise ChainError(
            f"the run's chain at {url} is gone (or lost the market {address}) and the run "
            f"kept no Anvil state ({state}): start the node with the run's chain again, or "
            "start a new run"
        )
    with Anvil(load_state=state) as node:
        status(f"the run's Anvil was gone: restarted at {node.url} from {state.name}")
        yield node.url, node


def _settle_once(market: Market, intent: SettleIntent, status: StatusSink) -> Recovered:
    """The interval's settlement: read back if the chain has it, else sent again as signed."""
    data = bytes.fromhex(intent.calldata_hex.removeprefix("0x"))
    if data[:4] != SETTLE_SELECTOR:
        raise ConfigError(
            f"the journal's intent for interval {intent.interval_id} is not a settle call: "
            "the journal is damaged; audit it with `gridbench report`"
        )
    trades = _trades(market, data)
    operator, i = market.operator, intent.interval_id
    if market.settler.is_settled(i):
        (event,) = market.settler.events(i)
        receipt = operator.wait(event.tx_hash)
        status(f"interval {i} was settled before the stop ({event.tx_hash}): recorded")
        sent_again = False
    else:
        gas = operator.estimate_gas(market.address, data)
        receipt = operator.wait(operator.send(market.address, data, gas=gas))
        status(f"interval {i} was not on chain: settled now ({receipt.tx_hash})")
        sent_again = True
    try:
        settlement = market.settler.from_receipt(i, trades, receipt)
    except BenchError as exc:
        raise ChainError(f"interval {i}'s settlement cannot be read back: {exc}") from exc
    return Recovered(intent, settlement, sent_again)


def _trades(market: Market, data: bytes) -> list[Trade]:
    """The trades of a settle call's batch, in batch order, with participant names."""
    batch = abi_decode(list(SETTLE_TYPES), data[4:])[1]  # (interval id, batch, ...)
    accounts = market.accounts
    return [
        Trade(
            accounts.name(t.buyer_index),
            accounts.name(t.seller_index),
            t.energy_wh,
            t.price_wei_per_wh,
        )
        for t in decode_batch(bytes(batch))
    ]
