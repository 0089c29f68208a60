"""Resuming a killed run: reattach to the chain and market its journal names, settle
every interval it sent (or was about to send) but never recorded, exactly once, and run
the rest of it.

The journal's intent rows (:meth:`Journal.unrecorded_intents`) hold each settle
transaction's calldata as signed before it went out. For each one the chain decides: an
interval already settled (mined before the kill) is only read back, its ``Settlement``
rebuilt from its receipt; one the chain does not have is sent again with the very same
calldata (the same signed orders and readings), so the contract's exactly-once rule holds
even against a second resume. The bench's own Anvil is carried on: the one a SIGKILLed
bench left running (named by ``anvil.pid``) has its state saved and is stopped, and a
supervised Anvil is started from the run's saved state (``anvil-state.json``) on its port;
every journaled transaction of the run that state lacks is sent again first, once each
and in order (:mod:`bench.scenario.sent_txs`). The run then goes on from the interval
after the chain's last settled one, on the same market with the same keys, into the
same journal; its supply sessions are carried on (:meth:`SupplySessions.carry_on`:
those open on chain reattached, never opened again).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import time
from collections.abc import Callable, Set
from dataclasses import dataclass
from pathlib import Path

from eth_abi import decode as abi_decode

from bench.chain import Anvil, Market, Settlement
from bench.chain.audit import audit_interval
from bench.chain.client import ChainClient
from bench.chain.encoding import decode_batch
from bench.chain.keys import KeyRing
from bench.chain.settlement import SETTLE_SELECTOR, SETTLE_TYPES
from bench.config import ScenarioConfig
from bench.errors import BenchError, ChainError, ConfigError
from bench.events import EnergyCatchUp, EnergyUnaccounted, SettleIntent
from bench.scenario.sent_txs import JournalTxLog, into_journal, send_lost_again
from bench.scenario.worker import ANVIL_PID, ANVIL_STATE, Continuation, ScenarioWorker
from bench.store import Journal, JournalRecorder, rerun_config
from pricing import Trade

StatusSink = Callable[[str], None]
_PROBE_RETRY_S = 1.0
_ORPHAN_STOP_S = 5.0


@dataclass(frozen=True)
class Recovered:
    """One interval settled by the resume: as the chain had it, or sent again."""

    intent: SettleIntent
    settlement: Settlement
    sent_again: bool
    """False when the chain had mined it before the kill (only read back)."""


@dataclass(frozen=True)
class Resumed:
    """What a resume did and what is left: ``worker`` runs the remaining intervals
    (not started; None when the run cannot be carried on, ``why`` says why)."""

    recovered: list[Recovered]
    worker: ScenarioWorker | None
    why: str = ""


def recover_run(run_dir: Path | str, status: StatusSink = lambda _line: None) -> list[Recovered]:
    """Settle, exactly once, each interval the run at ``run_dir`` sent but never recorded;
    journal each one's receipt and return them in order (the rest of the run not run)."""
    resumed = resume_run(run_dir, status, carry_on=False)
    return resumed.recovered


def resume_run(
    run_dir: Path | str, status: StatusSink = lambda _line: None, *, carry_on: bool = True
) -> Resumed:
    """Settle what the killed run at ``run_dir`` left pending (see :func:`recover_run`),
    then, with ``carry_on``, a worker that runs its remaining intervals on the same chain
    and market into the same journal (it owns the bench's Anvil from then on)."""
    run_dir = Path(run_dir)
    path = run_dir / "journal.sqlite" if run_dir.is_dir() else run_dir
    config = rerun_config(path)
    journal = Journal(path)
    node: Anvil | None = None
    try:
        url, address = journal.meta("chain_url"), journal.meta("market_address")
        if not isinstance(url, str) or not isinstance(address, str):
            raise ConfigError(
                f"the run {run_dir} never started its chain (no chain URL or market in its "
                "journal): there is nothing to resume; start it again with --from"
            )
        intents = {i.interval_id: i for i in journal.unrecorded_intents()}  # the last each
        node_url, node = _chain(url, address, path.parent, status)
        market = Market.attach(
            node_url,
            address,
            keys=KeyRing.from_folder(Path(f"{path}.keys")),
            operator_key_file=config.operator_key_file,
            allow_anvil_key=config.allow_well_known_key,
        )
        names = [p.agent.participant for p in config.participants]
        names += [config.grid.participant] if config.grid is not None else []
        names += [config.aggregator.participant] if config.aggregator is not None else []
        for name in names:  # the market's index of each: trades read back by name
            market.accounts.index(name)
        last = max((k.interval_id for k in journal.intervals()), default=0)
        market.client.tx_log = JournalTxLog(into_journal(journal), last)  # its sends too
        pending = {i.tx_hash for i in intents.values()}
        _resettle_lost(market, journal, config, status, pending)
        done = [_settle_once(market, intent, status) for _, intent in sorted(intents.items())]
        market.client.tx_log = None  # the worker journals its own
        unaccounted: list[EnergyUnaccounted] = []
        for recovered in done:
            journal.add_recovered_settlement(recovered.settlement, recovered.sent_again)
            for event in _energy_of(recovered, journal, config):
                if isinstance(event, EnergyCatchUp):
                    journal.add_catch_up(event)
                    journal.add_event(event.sim_time_s, event.level, event.message)
                else:
                    unaccounted.append(event)
        journal.commit()
        if node is not None:  # the chain as it is now, for the next resume
            node.dump_state(path.parent / ANVIL_STATE)
        recorded = [k.interval_id for k in journal.intervals()]
        settled = market.settled_intervals()
        lost = sorted(set(recorded) - set(settled))
        if lost:  # settled again above: only a chain that refused them gets here
            raise ChainError(
                f"the run's chain at {node_url} lacks intervals {lost} its journal recorded: "
                f"keep {path.parent / ANVIL_STATE} and the journal, and start a new run"
            )
        first = max([*settled, *recorded, 0]) + 1
        worker, why = None, "" if carry_on else "asked to settle the pending intervals only"
        if not why:
            before = journal.meta("resumed_at")
            journal.set_meta("resumed_at", [*(before if isinstance(before, list) else []), first])
            journal.set_meta("chain_url", node_url)  # the node the run goes on with
            journal.commit()  # the order replay restarts the sub-Wh rests there
            worker = ScenarioWorker(
                config,
                recorders=[JournalRecorder.reopen(path)],
                continuation=Continuation(
                    market,
                    node_url,
                    node,
                    first,
                    last_recorded=max(recorded, default=0),
                    findings=tuple(unaccounted),
                    before=_totals(journal, market, done),
                    counters_at_stop=_counters_at(journal, config, first - 1),
                    supply_power_w={
                        s.meter_id: journal.peak_power_w(s.meter_id) for s in config.sessions
                    },
                    carry_state=journal.carry_state(first - 1),
                ),
            )
            node = None  # the worker stops it
        return Resumed(done, worker, why)
    finally:
        journal.close()
        if node is not None:
            node.stop()


def _resettle_lost(
    market: Market,
    journal: Journal,
    config: ScenarioConfig,
    status: StatusSink,
    pending: Set[str],
) -> None:
    """Bring the chain back to the journal's when its Anvil was restarted from a state
    saved before some of the run's transactions (saved every few intervals; the orphan
    that had them gone): every journaled transaction it lacks is sent again, once each
    and in order (:func:`send_lost_again`; ``pending``: the unrecorded settle intents,
    settled by the resume itself), the settlements of recorded intervals among them
    journaled as re-settled.

    Nothing goes out twice: a transaction is sent only when its sender's nonce on this
    chain (the only one the run goes on with) is not past it, and each is awaited before
    the next. A journal from a bench before every transaction was journaled has its lost
    intervals settled again from their calldata instead, with the same orders, readings
    and journal digest. Refused (the run kept as it is) when the chain is not this run's
    earlier state (it has a later interval than a missing one) or when an older journal's
    run had supply sessions, whose transactions it does not hold."""
    recorded = {k.interval_id for k in journal.intervals()}
    settled = set(market.settled_intervals())
    lost = sorted(recorded - settled)
    where = f"the run's chain at {market.client.url}"
    if lost and max(settled, default=0) > lost[0]:
        raise ChainError(
            f"{where} lacks intervals {lost} its journal recorded but has later ones: it "
            "is not this run's chain as saved earlier; keep the journal and start a new run"
        )
    sent = journal.sent_transactions()
    if sent is not None:
        send_lost_again(market, journal, sent, status, leave=pending)
        return
    if not lost:
        return
    if config.sessions:
        raise ChainError(
            f"{where} lacks intervals {lost} its journal recorded (its Anvil was restarted "
            "from a state saved before them), and the journal, from a bench before every "
            "transaction was journaled, does not hold the run's supply-session "
            "transactions to send again: keep the journal and start a new run"
        )
    for i in lost:
        calldata = journal.settled_calldata(i)
        if calldata is None:
            raise ChainError(
                f"{where} lacks interval {i} its journal recorded, and the journal holds no "
                "settle transaction of it to send again: keep the journal, start a new run"
            )
        again = _settle_once(market, SettleIntent(0.0, i, "", 0, calldata), status)
        journal.add_resettled(i, again.settlement.tx_hash, again.settlement.block_number)
        journal.commit()
        status(f"interval {i}, lost with the chain's state, settled again")


def _energy_of(
    recovered: Recovered, journal: Journal, config: ScenarioConfig
) -> list[EnergyCatchUp | EnergyUnaccounted]:
    """The energy of an interval the killed run settled but never recorded, per meter:
    its settlement's cumulative counters less the previous interval's (both as the
    chain took them, from the journaled calldata), a catch-up for that interval. A
    meter-signed meter in the run's first interval has no earlier counters the journal
    holds: its energy there is unaccounted (a finding)."""
    i = recovered.intent.interval_id
    now = _readings(recovered.intent.calldata_hex)
    previous_hex = journal.settled_calldata(i - 1) if i > 1 else None
    before = _readings(previous_hex) if previous_hex is not None else {}
    owners = config.meter_owners
    attested = journal.meta("meters")
    kinds = attested if isinstance(attested, dict) else {}
    from_s = config.start_s + (i - 1) * config.market_interval_s
    to_s = from_s + config.market_interval_s
    out: list[EnergyCatchUp | EnergyUnaccounted] = []
    tie = None if config.aggregator is None else config.aggregator.participant
    for meter, (import_wh, export_wh) in sorted(now.items()):
        if meter == tie:  # the campus-city tie: counters the bench derives, no meter's energy
            continue
        base = before.get(meter)
        if base is None and i == 1 and kinds.get(meter, {}).get("attestation") != "meter":
            base = (0, 0)  # the bench attests from (0, 0) at commissioning
        if base is None:
            out.append(
                EnergyUnaccounted(
                    to_s,
                    meter,
                    f"in interval {i} (settled by the resume): the journal holds no earlier "
                    "counters of this meter to take its energy from",
                )
            )
            continue
        out.append(
            EnergyCatchUp(
                to_s,
                meter,
                owners.get(meter, meter),
                i,
                i,
                from_s,
                to_s,
                float(import_wh - base[0]),
                float(export_wh - base[1]),
            )
        )
    return out


def _totals(
    journal: Journal, market: Market, recovered: list[Recovered]
) -> tuple[int, int, int, int, int]:
    """What the run settled before the resume: the journal's intervals and those settled
    by this resume or an earlier one (read back from the chain)."""
    intervals, settled, rejected, energy_wh, value_wei = journal.settled_totals()
    now = {r.settlement.interval_id: r.settlement for r in recovered}
    for i in journal.recovered_settlements():
        s = now[i] if i in now else audit_interval(market, i).settlement
        intervals += 1
        settled, rejected = settled + len(s.settled_trades), rejected + len(s.rejected_trades)
        energy_wh, value_wei = energy_wh + s.energy_settled_wh, value_wei + s.value_settled_wei
    return intervals, settled, rejected, energy_wh, value_wei


def _counters_at(
    journal: Journal, config: ScenarioConfig, interval_id: int
) -> dict[str, tuple[float, float]]:
    """Each meter's counters at the end of ``interval_id``, from the journaled readings."""
    end_s = config.start_s + interval_id * config.market_interval_s
    out = {}
    for meter in config.bench.meters:
        counters = journal.counters_at(meter.meter_id, end_s)
        if counters is not None:
            out[meter.meter_id] = counters
    return out


def _readings(calldata_hex: str) -> dict[str, tuple[int, int]]:
    """meter -> (import Wh, export Wh) of the counters a settle call carries."""
    data = bytes.fromhex(calldata_hex.removeprefix("0x"))
    readings = abi_decode(list(SETTLE_TYPES), data[4:])[2]
    return {bytes(r[0]).rstrip(b"\0").decode("ascii"): (int(r[2]), int(r[3])) for r in readings}


def _chain(url: str, address: str, run_dir: Path, status: StatusSink) -> tuple[str, Anvil | None]:
    """(URL, the bench's own Anvil or None): for a run on the bench's own Anvil (it kept
    its state), the Anvil it left running is stopped (its state saved first, if it still
    answers with the market) and a new one started from the state on its port; a node the
    run attached to is attached again."""
    state = run_dir / ANVIL_STATE
    orphan = _stop_orphan(run_dir / ANVIL_PID, address, state, status)
    if not state.is_file():
        try:
            ChainClient(url, retry_s=_PROBE_RETRY_S).require_code(address, "GridMarket")
        except ChainError:
            raise ChainError(
                f"the run's chain at {url} is gone (or lost the market {address}) and the "
                f"run kept no Anvil state ({state}): start the node with the run's chain "
                "again, or start a new run"
            ) from None
        status(f"reattached to the chain at {url}")
        return url, None
    node = Anvil(port=orphan, load_state=state).start()
    status(f"the run's Anvil restarted at {node.url} from {state.name}")
    return node.url, node


def _stop_orphan(pid_file: Path, address: str, state: Path, status: StatusSink) -> int | None:
    """Stop the Anvil a killed bench left running (``pid_file``: its pid and port), after
    saving its state when it still has the market; returns its port (None: no orphan)."""
    try:
        named = json.loads(pid_file.read_text())
        pid, port, bench = int(named["pid"]), int(named["port"]), int(named["bench_pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if bench != os.getpid() and _is_bench(bench):
        raise ConfigError(
            f"the run in {pid_file.parent} is still running (gridbench pid {bench}): stop it "
            "first (Ctrl-C or kill -TERM), then resume it"
        )
    pid_file.unlink()
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return None  # gone already
    if not cmdline or not cmdline[0].endswith(b"anvil") or str(port).encode() not in cmdline:
        return None  # the pid was reused by another process: not ours to stop
    node = Anvil(port=port)
    try:
        ChainClient(node.url, retry_s=_PROBE_RETRY_S).require_code(address, "GridMarket")
        partial = state.with_name(f"{state.name}.partial")
        node.dump_state(partial).replace(state)
        status(f"the killed bench's Anvil (pid {pid}) still ran: its state saved")
    except (BenchError, OSError, ValueError) as exc:
        status(f"the killed bench's Anvil (pid {pid}) gave no state ({exc}): the last saved")
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + _ORPHAN_STOP_S
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.05)
        if Path(f"/proc/{pid}").exists():
            os.kill(pid, signal.SIGKILL)
    status(f"the killed bench's Anvil (pid {pid}) stopped")
    return port


def stop_orphans(runs_dir: Path, status: StatusSink = lambda _line: None) -> list[Path]:
    """Stop every Anvil a killed bench left running for a run under ``runs_dir`` (its
    state saved beside the run's journal first, so the run can still be resumed);
    returns the run folders concerned."""
    stopped = []
    for pid_file in sorted(Path(runs_dir).glob(f"*/{ANVIL_PID}")):
        with contextlib.suppress(ConfigError, sqlite3.Error):  # still running, or no journal
            address = Journal(pid_file.parent / "journal.sqlite", read_only=True)
            try:
                market = str(address.meta("market_address") or "")
            finally:
                address.close()
            if _stop_orphan(pid_file, market, pid_file.parent / ANVIL_STATE, status) is not None:
                stopped.append(pid_file.parent)
    return stopped


def _is_bench(pid: int) -> bool:
    """True while ``pid`` is a live gridbench (or test) process."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"bench" in cmdline or b"pytest" in cmdline


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
        replaces = intent.tx_hash or None  # journaled as carrying the lost one
        receipt = operator.wait(operator.send(market.address, data, gas=gas, replaces=replaces))
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
