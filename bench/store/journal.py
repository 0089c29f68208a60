"""SQLite run journal: readings, metered energy, orders, clearings, trades, tx hashes.

One file per run, written by its :class:`~bench.store.recorder.JournalRecorder` on the
scenario worker's thread; readable by anyone (``sqlite3 runs/<run>/journal.sqlite``) and
read back as typed records (:meth:`Journal.intervals`) to replay into the audit.
"""

from __future__ import annotations

import contextlib
import json
import sqlite3
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from bench.errors import ConfigError
from bench.events import (
    BenchStatus,
    EnergyCatchUp,
    IntervalReport,
    MeteredEnergy,
    MeterSample,
    SettleIntent,
    TransactionOutcome,
    TransactionSigned,
)
from bench.store.digest import chain_digest, genesis, sorted_rows
from pricing import GridFlow, Order, Side, Trade

if TYPE_CHECKING:  # the chain package pulls in web3 (seconds to import)
    from bench.chain import Settlement

_SCHEMA = """
CREATE TABLE IF NOT EXISTS run (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS reading (
    meter_id TEXT NOT NULL, sim_time_s REAL NOT NULL, power_w REAL NOT NULL,
    energy_import_wh REAL NOT NULL, energy_export_wh REAL NOT NULL, relay_closed INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS metered (
    interval_id INTEGER NOT NULL, participant TEXT NOT NULL,
    import_wh REAL NOT NULL, export_wh REAL NOT NULL,
    PRIMARY KEY (interval_id, participant)
);
CREATE TABLE IF NOT EXISTS feeder (
    interval_id INTEGER PRIMARY KEY, import_wh REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    interval_id INTEGER NOT NULL, participant TEXT NOT NULL, side TEXT NOT NULL,
    energy_wh INTEGER NOT NULL, price_wei_per_wh INTEGER NOT NULL, time_s REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS clearing (
    interval_id INTEGER PRIMARY KEY, price_wei_per_wh INTEGER, volume_wh INTEGER NOT NULL,
    components_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trade (
    interval_id INTEGER NOT NULL, buyer TEXT NOT NULL, seller TEXT NOT NULL,
    energy_wh INTEGER NOT NULL, price_wei_per_wh INTEGER NOT NULL,
    status TEXT NOT NULL, reason TEXT, tx_hash TEXT
);
CREATE TABLE IF NOT EXISTS market_state (
    interval_id INTEGER PRIMARY KEY, grid_participant TEXT, feeder_import_wh REAL,
    feeder_export_wh REAL, soc_wh REAL, battery_setpoint_w REAL, signal_wei_per_wh REAL,
    step_allowance_wh REAL NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS event (
    sim_time_s REAL NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS curtailment (
    interval_id INTEGER NOT NULL, participant TEXT NOT NULL, energy_wh REAL NOT NULL,
    PRIMARY KEY (interval_id, participant)
);
CREATE TABLE IF NOT EXISTS shedding (
    interval_id INTEGER NOT NULL, participant TEXT NOT NULL, energy_wh REAL NOT NULL,
    PRIMARY KEY (interval_id, participant)
);
CREATE TABLE IF NOT EXISTS catch_up (
    participant TEXT NOT NULL, meter_id TEXT NOT NULL, interval_id INTEGER,
    reported_interval_id INTEGER, from_sim_s REAL NOT NULL, to_sim_s REAL NOT NULL,
    import_wh REAL NOT NULL, export_wh REAL NOT NULL, digested_in INTEGER
);
"""
# ``digested_in``: the interval whose digest covers the catch-up (the next one recorded
# after it); past the last interval, the run's seal covers it.

_VERDICT_SCHEMA = """
CREATE TABLE IF NOT EXISTS settlement (
    interval_id INTEGER PRIMARY KEY, end_sim_time_s REAL NOT NULL, tx_hash TEXT NOT NULL,
    batch_hash TEXT NOT NULL, block_number INTEGER NOT NULL,
    value_settled_wei TEXT NOT NULL, energy_settled_wh INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS amount (
    interval_id INTEGER NOT NULL, buyer TEXT NOT NULL, seller TEXT NOT NULL,
    energy_wh INTEGER NOT NULL, price_wei_per_wh INTEGER NOT NULL, value_wei TEXT NOT NULL,
    tx_hash TEXT NOT NULL, batch_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS coverage (
    interval_id INTEGER NOT NULL, meter_id TEXT NOT NULL, readings INTEGER NOT NULL,
    PRIMARY KEY (interval_id, meter_id)
);
CREATE TABLE IF NOT EXISTS settle_intent (
    interval_id INTEGER NOT NULL, tx_hash TEXT NOT NULL, nonce INTEGER NOT NULL,
    calldata TEXT NOT NULL, sim_time_s REAL NOT NULL,
    receipt_tx_hash TEXT, block_number INTEGER,
    PRIMARY KEY (interval_id, tx_hash)
);
CREATE TABLE IF NOT EXISTS recovered_settlement (
    interval_id INTEGER PRIMARY KEY, tx_hash TEXT NOT NULL, batch_hash TEXT NOT NULL,
    block_number INTEGER NOT NULL, value_settled_wei TEXT NOT NULL,
    energy_settled_wh INTEGER NOT NULL, sent_again INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS carry_state (
    interval_id INTEGER PRIMARY KEY, state_json TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS digest (
    interval_id INTEGER PRIMARY KEY, previous TEXT NOT NULL, digest TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS resettled (
    interval_id INTEGER PRIMARY KEY, tx_hash TEXT NOT NULL, block_number INTEGER NOT NULL,
    lost_tx_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sent_tx (
    seq INTEGER PRIMARY KEY, interval_id INTEGER NOT NULL, sender TEXT NOT NULL,
    nonce INTEGER NOT NULL, to_address TEXT, data TEXT NOT NULL, value_wei TEXT NOT NULL,
    gas INTEGER NOT NULL, tx_hash TEXT NOT NULL, raw TEXT NOT NULL, replaces TEXT,
    outcome TEXT, digested_in INTEGER
);
"""
"""Tables the verdict reads: each interval's settlement (its transaction, batch and the
chain's totals), every settled amount, how many readings each meter sent, and the hash
chain over the interval records (:mod:`bench.store.digest`). ``resettled``: a recorded
interval whose chain was lost (Anvil restarted from a state saved before it), settled
again by a resume with the same calldata in another transaction. ``settle_intent`` holds
each settlement transaction as signed, committed before it was sent, and its receipt
once the interval was recorded: an intent without a receipt is an interval that may be
on chain but not in the journal (what ``gridbench run --resume`` settles). ``sent_tx``:
every transaction the run's wallets signed, committed before it was broadcast, in send
order (``seq``), signed (``raw``) and with what re-signs it; ``replaces`` names one it
carries signed again at another nonce, ``outcome`` is ``refused`` (never sent) or
``reverted``; its rows are in the digest of the interval recorded after them
(``digested_in``), those after the last one in the run's seal."""
SENT_TX_FROM_START = "sent_tx_from_start"
"""Meta key, true in a journal created with ``sent_tx``: it holds every transaction of
the run (one from an older bench only those since it was reopened)."""

_TABLES = frozenset(("run", "reading", "metered", "feeder", "orders", "clearing", "trade", "event"))
_SQLITE_MAGIC = b"SQLite format 3\x00"


class NotAJournalError(ConfigError):
    """The file is not a gridbench run journal."""


@dataclass(frozen=True)
class RecordedInterval:
    """One interval as the journal kept it."""

    interval_id: int
    metered: tuple[MeteredEnergy, ...]
    feeder_import_wh: float | None
    orders: tuple[Order, ...]
    price_wei_per_wh: int | None
    volume_wh: int
    price_components_wei_per_wh: dict[str, float]
    settled_trades: tuple[Trade, ...]
    rejected_trades: tuple[tuple[Trade, str], ...]
    tx_hash: str | None
    grid: GridFlow | None = None
    soc_wh: float | None = None
    battery_setpoint_w: float | None = None
    signal_wei_per_wh: float | None = None
    step_allowance_wh: float = 0.0


@dataclass(frozen=True)
class CatchUpRow:
    """Energy a meter's counters attributed after it was cut (see ``EnergyCatchUp``):
    to the interval it was consumed in, or (``interval_id`` None) to an outage from
    ``from_sim_s`` to ``to_sim_s``."""

    participant: str
    meter_id: str
    interval_id: int | None
    from_sim_s: float
    to_sim_s: float
    import_wh: float
    export_wh: float


@dataclass(frozen=True)
class SentTx(TransactionSigned):
    """One journaled transaction (a ``sent_tx`` row; hex strings as ``0x…``): the
    transaction as signed, and what became of it. ``outcome`` None: broadcast (mined as
    sent, unless the run was killed first); ``refused``: the node refused it, never sent;
    ``reverted``: mined and reverted."""

    outcome: str | None = None


class Journal:
    """Append-only journal of one run; ``read_only`` opens an existing one to read it
    (SQLite ``mode=ro``: nothing is created or written)."""

    def __init__(self, path: Path | str, *, read_only: bool = False) -> None:
        self.path = Path(path)
        self._sampled: list[tuple[str, float]] = []  # (meter, taken at) since a cut
        self._read_only = read_only
        if read_only:
            self._db = _open_read_only(self.path)
            return
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            # WAL: a commit is durable at once, a kill leaves no rollback journal to undo
            # it, and readers (the panel, `gridbench report`) never block the writer.
            self._db.execute("PRAGMA journal_mode = WAL")
            new = not self._has_table("run")
            self._db.executescript(_SCHEMA)
            self._db.executescript(_VERDICT_SCHEMA)
            if not self._has_column("catch_up", "digested_in"):  # a journal from before
                self._db.execute("ALTER TABLE catch_up ADD COLUMN digested_in INTEGER")
            if new:  # every transaction of this run is journaled, from its first one
                self.set_meta(SENT_TX_FROM_START, True)
                self.commit()
        except (OSError, sqlite3.Error) as exc:
            raise ConfigError(
                f"cannot open the run journal {self.path}: {exc}; "
                "choose a writable folder with --journal DIR"
            ) from exc

    def set_meta(self, key: str, value: object) -> None:
        """Record one run attribute (config, chain URL, contract address)."""
        self._db.execute(
            "INSERT OR REPLACE INTO run VALUES (?, ?)", (key, json.dumps(value, default=str))
        )

    def meta(self, key: str) -> object:
        """Read back a run attribute (None when absent)."""
        row = self._db.execute("SELECT value FROM run WHERE key = ?", (key,)).fetchone()
        return None if row is None else json.loads(row[0])

    def add_sample(self, sample: MeterSample) -> None:
        """Record one meter reading as the bench saw it."""
        self._sampled.append((sample.meter_id, sample.sim_time_s))
        self._db.execute(
            "INSERT INTO reading VALUES (?, ?, ?, ?, ?, ?)",
            (
                sample.meter_id,
                sample.sim_time_s,
                sample.power_w,
                sample.energy_import_wh,
                sample.energy_export_wh,
                int(sample.relay_closed),
            ),
        )

    def add_interval(self, report: IntervalReport) -> None:
        """Record one interval: metered energy, feeder, order book, clearing, trades as
        settled or rejected on chain, and the audit's findings; then commit."""
        interval_id = report.interval_id
        self._db.executemany(
            "INSERT OR REPLACE INTO metered VALUES (?, ?, ?, ?)",
            [(interval_id, m.participant, m.import_wh, m.export_wh) for m in report.metered],
        )
        if report.feeder_import_wh is not None:
            self._db.execute(
                "INSERT OR REPLACE INTO feeder VALUES (?, ?)",
                (interval_id, report.feeder_import_wh),
            )
        self._db.executemany(
            "INSERT INTO orders VALUES (?, ?, ?, ?, ?, ?)",
            [
                (
                    interval_id,
                    o.participant,
                    o.side.value,
                    o.energy_wh,
                    o.price_wei_per_wh,
                    o.time_s,
                )
                for o in report.orders
            ],
        )
        clearing = report.pricing.clearing
        self._db.execute(
            "INSERT OR REPLACE INTO clearing VALUES (?, ?, ?, ?)",
            (
                interval_id,
                clearing.price_wei_per_wh,
                clearing.volume_wh,
                json.dumps(report.pricing.price.as_dict()),
            ),
        )
        settlement = report.settlement
        rows: list[tuple[Trade, str, str | None]]
        rows = [(t, "settled", None) for t in settlement.settled_trades]
        rows += [(t, "rejected", reason) for t, reason in settlement.rejected_trades]
        self._db.executemany(
            "INSERT INTO trade VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    interval_id,
                    t.buyer,
                    t.seller,
                    t.energy_wh,
                    t.price_wei_per_wh,
                    status,
                    r,
                    settlement.tx_hash,
                )
                for t, status, r in rows
            ],
        )
        grid = report.grid
        self._db.execute(
            "INSERT OR REPLACE INTO market_state VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                interval_id,
                None if grid is None else grid.participant,
                None if grid is None else grid.feeder_import_wh,
                None if grid is None else grid.feeder_export_wh,
                report.soc_wh,
                report.battery_setpoint_w,
                report.signal_wei_per_wh,
                report.step_allowance_wh,
            ),
        )
        for table, energy in (("curtailment", report.curtailed_wh), ("shedding", report.shed_wh)):
            self._db.executemany(
                f"INSERT OR REPLACE INTO {table} VALUES (?, ?, ?)",
                [(interval_id, name, wh) for name, wh in energy.items()],
            )
        self._add_verdict_rows(report)
        self._db.execute(
            "UPDATE settle_intent SET receipt_tx_hash = ?, block_number = ? WHERE interval_id = ?",
            (report.settlement.tx_hash, report.settlement.block_number, interval_id),
        )
        for finding in report.findings:
            self.add_event(report.sim_time_s, "audit", finding)
        self.commit()

    def _add_verdict_rows(self, report: IntervalReport) -> None:
        """The settlement, its amounts, the meters' reading counts and the chained digest."""
        i, s = report.interval_id, report.settlement
        self._db.execute(
            "INSERT OR REPLACE INTO settlement VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                i,
                report.sim_time_s,
                s.tx_hash,
                s.batch_hash,
                s.block_number,
                str(s.value_settled_wei),
                s.energy_settled_wh,
            ),
        )
        self._add_amounts(s)
        # each reading counts in the interval it was taken in (not the one it arrived
        # in: a bench fallen behind drains several intervals' readings at once); one
        # taken before an interval already recorded counts in this one
        end_s = report.sim_time_s
        counts = Counter(meter for meter, t_s in self._sampled if t_s <= end_s)
        self._sampled = [(meter, t_s) for meter, t_s in self._sampled if t_s > end_s]
        self._db.executemany(
            "INSERT OR REPLACE INTO coverage VALUES (?, ?, ?)",
            [(i, meter, n) for meter, n in sorted(counts.items())],
        )
        self._db.execute("UPDATE sent_tx SET digested_in = ? WHERE digested_in IS NULL", (i,))
        previous = self.last_digest()
        self._db.execute(
            "INSERT OR REPLACE INTO digest VALUES (?, ?, ?)",
            (i, previous, chain_digest(self.interval_payload(i), previous)),
        )

    def last_digest(self) -> str:
        """The digest of the last interval recorded (the genesis digest before the first)."""
        row = self._db.execute(
            "SELECT digest FROM digest ORDER BY interval_id DESC LIMIT 1"
        ).fetchone()
        return genesis(str(self.meta("config_sha256") or "")) if row is None else str(row[0])

    def interval_payload(self, interval_id: int) -> dict[str, object]:
        """Everything recorded for one interval, in the canonical form the digest covers."""
        rows = {
            "metered": "SELECT participant, import_wh, export_wh FROM metered",
            "feeder": "SELECT import_wh FROM feeder",
            "orders": "SELECT participant, side, energy_wh, price_wei_per_wh, time_s FROM orders",
            "clearing": "SELECT price_wei_per_wh, volume_wh, components_json FROM clearing",
            "trades": "SELECT buyer, seller, energy_wh, price_wei_per_wh, status, reason, "
            "tx_hash FROM trade",
            "settlement": "SELECT end_sim_time_s, tx_hash, batch_hash, block_number, "
            "value_settled_wei, energy_settled_wh FROM settlement",
            "amounts": "SELECT buyer, seller, energy_wh, price_wei_per_wh, value_wei, tx_hash, "
            "batch_hash FROM amount",
            "coverage": "SELECT meter_id, readings FROM coverage",
            "market_state": "SELECT grid_participant, feeder_import_wh, feeder_export_wh, "
            "soc_wh, battery_setpoint_w, signal_wei_per_wh, step_allowance_wh FROM market_state",
        }
        if not self._has_table("market_state"):  # a journal from before the market
            del rows["market_state"]
        for table in ("curtailment", "shedding"):  # none in a journal from before the limits
            if self._has_table(table):
                rows[table] = f"SELECT participant, energy_wh FROM {table}"
        payload: dict[str, object] = {"interval_id": interval_id}
        for name, sql in rows.items():
            found = self._db.execute(f"{sql} WHERE interval_id = ?", (interval_id,)).fetchall()
            payload[name] = sorted_rows(found)
        if self._has_column("catch_up", "digested_in"):
            payload["catch_ups"] = self._catch_ups_digested("= ?", interval_id)
        state = self.carry_state(interval_id)
        if state is not None:  # none journaled by a bench from before the resume's state
            payload["carry_state"] = state
        sent = self._sent_digested("= ?", interval_id)
        if sent:  # none in a journal from before, nor in an interval that sent none
            payload["sent_tx"] = sent
        return payload

    def seal_payload(self, summary: object) -> dict[str, object]:
        """What the run's seal covers: the summary and the catch-ups recorded after the
        last interval's digest (energy a late meter brought at the run's end)."""
        payload: dict[str, object] = {"summary": summary}
        if self._has_column("catch_up", "digested_in"):
            (last,) = self._db.execute("SELECT MAX(interval_id) FROM digest").fetchone()
            late = self._catch_ups_digested("> ?", last or 0)
            if late:
                payload["catch_ups"] = late
        sent = self._sent_digested("IS ?", None)
        if sent:
            payload["sent_tx"] = sent
        return payload

    def _sent_digested(self, condition: str, interval_id: int | None) -> list[list[object]]:
        """The digested columns of the transactions one digest covers: who sent which
        (the hash binds the signed bytes), and which it replaced."""
        if not self._has_table("sent_tx"):
            return []
        found = self._db.execute(
            f"SELECT sender, nonce, tx_hash, replaces FROM sent_tx WHERE digested_in {condition}",
            (interval_id,),
        ).fetchall()
        return sorted_rows(found)

    def _catch_ups_digested(self, condition: str, interval_id: int) -> list[list[object]]:
        found = self._db.execute(
            "SELECT participant, meter_id, interval_id, reported_interval_id, from_sim_s, "
            f"to_sim_s, import_wh, export_wh FROM catch_up WHERE digested_in {condition}",
            (interval_id,),
        ).fetchall()
        return sorted_rows(found)

    def _has_column(self, table: str, column: str) -> bool:
        return any(row[1] == column for row in self._db.execute(f"PRAGMA table_info({table})"))

    def _has_table(self, name: str) -> bool:
        found = self._db.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", (name,)
        ).fetchone()
        return found is not None

    def digests(self) -> list[tuple[int, str, str]]:
        """(interval_id, previous, digest) as stored, in interval order."""
        return self._db.execute(
            "SELECT interval_id, previous, digest FROM digest ORDER BY interval_id"
        ).fetchall()

    def seal(self, summary: dict[str, object]) -> None:
        """Record the run's summary and a digest of it chained to the last interval."""
        self.set_meta("summary", summary)
        self.set_meta("seal", chain_digest(self.seal_payload(summary), self.last_digest()))
        self.commit()

    def coverage(self) -> dict[int, dict[str, int]]:
        """Readings each meter sent, per interval."""
        out: dict[int, dict[str, int]] = {}
        for i, meter, n in self._db.execute("SELECT interval_id, meter_id, readings FROM coverage"):
            out.setdefault(i, {})[meter] = n
        return out

    def settlements(self) -> dict[int, tuple[float, str, str, int, int, int]]:
        """interval -> (end time s, tx hash, batch hash, block, value wei, energy Wh)."""
        return {
            i: (t, tx, batch, block, int(value), energy)
            for i, t, tx, batch, block, value, energy in self._db.execute(
                "SELECT * FROM settlement"
            )
        }

    def amounts(self) -> dict[int, list[tuple[Trade, int, str]]]:
        """interval -> [(trade, settled wei, tx hash)] as the chain settled them."""
        out: dict[int, list[tuple[Trade, int, str]]] = {}
        for i, buyer, seller, energy, price, value, tx, _ in self._db.execute(
            "SELECT * FROM amount ORDER BY rowid"
        ):
            out.setdefault(i, []).append((Trade(buyer, seller, energy, price), int(value), tx))
        return out

    def add_settle_intent(self, intent: SettleIntent) -> None:
        """Record a settlement transaction about to be sent, and commit at once."""
        self._db.execute(
            "INSERT OR REPLACE INTO settle_intent VALUES (?, ?, ?, ?, ?, NULL, NULL)",
            (
                intent.interval_id,
                intent.tx_hash,
                intent.nonce,
                intent.calldata_hex,
                intent.sim_time_s,
            ),
        )
        if intent.carry_state_json:
            self._db.execute(
                "INSERT OR REPLACE INTO carry_state VALUES (?, ?)",
                (intent.interval_id, intent.carry_state_json),
            )
        self.commit()

    def carry_state(self, interval_id: int) -> dict[str, Any] | None:
        """What the interval after ``interval_id`` starts from, as journaled with its
        settle intent (None: not journaled, e.g. by a bench from before)."""
        if not self._has_table("carry_state"):
            return None
        row = self._db.execute(
            "SELECT state_json FROM carry_state WHERE interval_id = ?", (interval_id,)
        ).fetchone()
        return None if row is None else dict(json.loads(row[0]))

    def unrecorded_intents(self) -> list[SettleIntent]:
        """Settlements sent (or about to be) whose interval the journal never recorded."""
        if not self._has_table("settle_intent"):  # a journal from before intents
            return []
        rows = self._db.execute(
            "SELECT sim_time_s, interval_id, tx_hash, nonce, calldata FROM settle_intent "
            "WHERE receipt_tx_hash IS NULL AND interval_id NOT IN "
            "(SELECT interval_id FROM settlement) ORDER BY rowid"
        )
        return [SettleIntent(t, i, tx, nonce, data) for t, i, tx, nonce, data in rows]

    def _add_amounts(self, s: Settlement) -> None:
        """The amounts of a settlement's trades, as the chain settled them."""
        self._db.executemany(
            "INSERT INTO amount VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    s.interval_id,
                    t.buyer,
                    t.seller,
                    t.energy_wh,
                    t.price_wei_per_wh,
                    str(t.value_wei),
                    s.tx_hash,
                    s.batch_hash,
                )
                for t in s.settled_trades
            ],
        )

    def add_recovered_settlement(self, settlement: Settlement, sent_again: bool) -> None:
        """Record the settlement a resume found on chain (or sent again) for an interval
        the killed run never recorded, with its amounts; its intent gets the receipt.
        Commits."""
        s = settlement
        self._db.execute("DELETE FROM amount WHERE interval_id = ?", (s.interval_id,))
        self._add_amounts(s)
        self._db.execute(
            "INSERT OR REPLACE INTO recovered_settlement VALUES (?, ?, ?, ?, ?, ?, ?)",
            (
                s.interval_id,
                s.tx_hash,
                s.batch_hash,
                s.block_number,
                str(s.value_settled_wei),
                s.energy_settled_wh,
                int(sent_again),
            ),
        )
        self._db.execute(
            "UPDATE settle_intent SET receipt_tx_hash = ?, block_number = ? WHERE interval_id = ?",
            (s.tx_hash, s.block_number, s.interval_id),
        )
        self.commit()

    def counters_at(self, meter_id: str, sim_time_s: float) -> tuple[float, float] | None:
        """A meter's (import, export) counters at ``sim_time_s`` from its journaled
        readings: interpolated between the readings either side, else the last before
        (None: no reading before)."""
        before = self._db.execute(
            "SELECT sim_time_s, energy_import_wh, energy_export_wh FROM reading WHERE "
            "meter_id = ? AND sim_time_s <= ? ORDER BY sim_time_s DESC, rowid DESC LIMIT 1",
            (meter_id, sim_time_s),
        ).fetchone()
        if before is None:
            return None
        after = self._db.execute(
            "SELECT sim_time_s, energy_import_wh, energy_export_wh FROM reading WHERE "
            "meter_id = ? AND sim_time_s > ? ORDER BY sim_time_s, rowid LIMIT 1",
            (meter_id, sim_time_s),
        ).fetchone()
        t0, imp0, exp0 = before
        if after is None or after[1] < imp0 or after[2] < exp0:  # none after, or a reboot
            return imp0, exp0
        t1, imp1, exp1 = after
        w = (sim_time_s - t0) / (t1 - t0)
        return imp0 + w * (imp1 - imp0), exp0 + w * (exp1 - exp0)

    def settled_totals(self) -> tuple[int, int, int, int, int]:
        """(intervals, trades settled, trades rejected, energy Wh, value wei) over the
        recorded intervals."""
        (intervals,) = self._db.execute("SELECT COUNT(*) FROM settlement").fetchone()
        counts = dict(self._db.execute("SELECT status, COUNT(*) FROM trade GROUP BY status"))
        energy_wh = value_wei = 0
        for _, _, _, _, value, energy in self.settlements().values():
            energy_wh, value_wei = energy_wh + energy, value_wei + value
        return intervals, counts.get("settled", 0), counts.get("rejected", 0), energy_wh, value_wei

    def settled_calldata(self, interval_id: int) -> str | None:
        """The calldata (hex) of the settle transaction the chain mined for
        ``interval_id``, as its intent journaled it (None: none with a receipt)."""
        if not self._has_table("settle_intent"):
            return None
        row = self._db.execute(
            "SELECT calldata FROM settle_intent WHERE interval_id = ? AND receipt_tx_hash "
            "IS NOT NULL ORDER BY rowid DESC LIMIT 1",
            (interval_id,),
        ).fetchone()
        return None if row is None else str(row[0])

    def add_sent_tx(self, tx: TransactionSigned) -> None:
        """Record a transaction about to be broadcast, and commit at once."""
        self._db.execute(
            "INSERT INTO sent_tx (interval_id, sender, nonce, to_address, data, value_wei, "
            "gas, tx_hash, raw, replaces) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                tx.interval_id,
                tx.sender,
                tx.nonce,
                tx.to,
                tx.data_hex,
                str(tx.value_wei),
                tx.gas,
                tx.tx_hash,
                tx.raw_hex,
                tx.replaces,
            ),
        )
        self.commit()

    def set_tx_outcome(self, outcome: TransactionOutcome) -> None:
        """Mark a journaled transaction refused (never sent) or reverted; commits."""
        self._db.execute(
            "UPDATE sent_tx SET outcome = ? WHERE tx_hash = ?", (outcome.outcome, outcome.tx_hash)
        )
        self.commit()

    def sent_transactions(self) -> list[SentTx] | None:
        """Every transaction the run's wallets signed, in send order; None when the
        journal does not hold them all (one from a bench before they were journaled)."""
        if self.meta(SENT_TX_FROM_START) is not True or not self._has_table("sent_tx"):
            return None
        rows = self._db.execute(
            "SELECT interval_id, sender, nonce, to_address, data, value_wei, gas, tx_hash, "
            "raw, replaces, outcome FROM sent_tx ORDER BY seq"
        )
        return [
            SentTx(i, sender, nonce, to, data, int(value), gas, tx, raw, replaces, outcome)
            for i, sender, nonce, to, data, value, gas, tx, raw, replaces, outcome in rows
        ]

    def add_resettled(self, interval_id: int, tx_hash: str, block_number: int) -> None:
        """A recorded interval settled again on a chain that lost it (see ``resettled``)."""
        (lost,) = self._db.execute(
            "SELECT tx_hash FROM settlement WHERE interval_id = ?", (interval_id,)
        ).fetchone()
        self._db.execute(
            "INSERT OR REPLACE INTO resettled VALUES (?, ?, ?, ?)",
            (interval_id, tx_hash, block_number, lost),
        )

    def resettled(self) -> dict[int, str]:
        """interval -> the transaction that settled it again after its chain lost it."""
        if not self._has_table("resettled"):
            return {}
        return dict(self._db.execute("SELECT interval_id, tx_hash FROM resettled"))

    def recovered_settlements(self) -> dict[int, tuple[str, str, int, int, int, bool]]:
        """Interval -> (tx hash, batch hash, block, value wei, energy Wh, sent again) of
        each settlement a resume found on chain or sent again for a killed run."""
        if not self._has_table("recovered_settlement"):
            return {}
        rows = self._db.execute(
            "SELECT interval_id, tx_hash, batch_hash, block_number, value_settled_wei, "
            "energy_settled_wh, sent_again FROM recovered_settlement ORDER BY interval_id"
        )
        return {i: (tx, b, n, int(v), e, bool(a)) for i, tx, b, n, v, e, a in rows}

    def peak_power_w(self, meter_id: str) -> float:
        """The largest power (W, either direction) of a meter's journaled readings."""
        row = self._db.execute(
            "SELECT MAX(ABS(power_w)) FROM reading WHERE meter_id = ?", (meter_id,)
        ).fetchone()
        return float(row[0] or 0.0)

    def power_series(self) -> dict[str, tuple[list[float], list[float]]]:
        """Each meter's readings as (simulated times s, power W), in the order recorded."""
        out: dict[str, tuple[list[float], list[float]]] = {}
        for meter, t, power in self._db.execute(
            "SELECT meter_id, sim_time_s, power_w FROM reading ORDER BY rowid"
        ):
            times, powers = out.setdefault(meter, ([], []))
            times.append(t)
            powers.append(power)
        return out

    def add_event(self, sim_time_s: float, level: str, message: str) -> None:
        """Record a status event (outage, reconnect, audit finding)."""
        self._db.execute("INSERT INTO event VALUES (?, ?, ?)", (sim_time_s, level, message))

    def add_catch_up(self, c: EnergyCatchUp) -> None:
        """Record energy found late from a meter's counters (not traded again)."""
        (last,) = self._db.execute("SELECT MAX(interval_id) FROM digest").fetchone()
        self._db.execute(
            "INSERT INTO catch_up VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                c.participant,
                c.meter_id,
                c.interval_id,
                c.reported_interval_id,
                c.from_sim_s,
                c.to_sim_s,
                c.import_wh,
                c.export_wh,
                (last or 0) + 1,
            ),
        )

    def catch_ups(self) -> list[tuple[str, int | None, float, float]]:
        """(participant, interval consumed in or None, import Wh, export Wh), in order."""
        rows = self._db.execute(
            "SELECT participant, interval_id, import_wh, export_wh FROM catch_up ORDER BY rowid"
        )
        return [(p, i, imp, exp) for p, i, imp, exp in rows]

    def catch_up_rows(self) -> list[CatchUpRow]:
        """Every catch-up as recorded, in order."""
        if not self._has_table("catch_up"):
            return []
        rows = self._db.execute(
            "SELECT participant, meter_id, interval_id, from_sim_s, to_sim_s, import_wh, "
            "export_wh FROM catch_up ORDER BY rowid"
        )
        return [CatchUpRow(*row) for row in rows]

    def energy_totals_wh(self) -> dict[str, tuple[float, float]]:
        """Each participant's (import, export) Wh over the run: every interval's metered
        energy plus its catch-ups; the feeder's (its interval cuts are the grid's flow)
        under the grid's participant."""
        totals: dict[str, tuple[float, float]] = {}
        rows = self._db.execute(
            "SELECT participant, SUM(import_wh), SUM(export_wh) FROM "
            "(SELECT participant, import_wh, export_wh FROM metered "
            " UNION ALL SELECT participant, import_wh, export_wh FROM catch_up "
            " UNION ALL SELECT grid_participant, COALESCE(feeder_import_wh, 0), "
            " COALESCE(feeder_export_wh, 0) "
            " FROM market_state WHERE grid_participant IS NOT NULL) "
            "GROUP BY participant"
        )
        for participant, imp, exp in rows:
            totals[participant] = (imp, exp)
        return totals

    def commit(self) -> None:
        """Make everything recorded so far durable."""
        self._db.commit()

    def intervals(self) -> list[RecordedInterval]:
        """Every recorded interval, in order, as typed records."""
        metered: dict[int, list[MeteredEnergy]] = {}
        for interval_id, participant, imp, exp in self._db.execute(
            "SELECT interval_id, participant, import_wh, export_wh FROM metered ORDER BY rowid"
        ):
            metered.setdefault(interval_id, []).append(MeteredEnergy(participant, imp, exp))
        feeder = dict(self._db.execute("SELECT interval_id, import_wh FROM feeder").fetchall())
        orders: dict[int, list[Order]] = {}
        for interval_id, participant, side, energy_wh, price, time_s in self._db.execute(
            "SELECT interval_id, participant, side, energy_wh, price_wei_per_wh, time_s "
            "FROM orders ORDER BY rowid"
        ):
            orders.setdefault(interval_id, []).append(
                Order(participant, Side(side), energy_wh, price, time_s)
            )
        trades: dict[int, list[tuple[Trade, str, str | None, str | None]]] = {}
        for interval_id, buyer, seller, energy_wh, price, status, reason, tx in self._db.execute(
            "SELECT interval_id, buyer, seller, energy_wh, price_wei_per_wh, status, reason, "
            "tx_hash FROM trade ORDER BY rowid"
        ):
            trade = Trade(buyer, seller, energy_wh, price)
            trades.setdefault(interval_id, []).append((trade, status, reason, tx))
        state = (
            {
                row[0]: row[1:]
                for row in self._db.execute(
                    "SELECT interval_id, grid_participant, feeder_import_wh, feeder_export_wh, "
                    "soc_wh, battery_setpoint_w, signal_wei_per_wh, step_allowance_wh "
                    "FROM market_state"
                )
            }
            if self._has_table("market_state")
            else {}
        )
        out = []
        for interval_id, price, volume, components in self._db.execute(
            "SELECT interval_id, price_wei_per_wh, volume_wh, components_json FROM clearing "
            "ORDER BY interval_id"
        ):
            rows = trades.get(interval_id, [])
            out.append(
                RecordedInterval(
                    interval_id=interval_id,
                    metered=tuple(metered.get(interval_id, ())),
                    feeder_import_wh=feeder.get(interval_id),
                    orders=tuple(orders.get(interval_id, ())),
                    price_wei_per_wh=price,
                    volume_wh=volume,
                    price_components_wei_per_wh=json.loads(components),
                    settled_trades=tuple(t for t, status, _, _ in rows if status == "settled"),
                    rejected_trades=tuple(
                        (t, r or "") for t, status, r, _ in rows if status == "rejected"
                    ),
                    tx_hash=next((tx for _, _, _, tx in rows if tx is not None), None),
                    **_market_state(state.get(interval_id)),  # type: ignore[arg-type]
                )
            )
        return out

    def status_lines(self) -> list[BenchStatus]:
        """Every status line and audit finding kept, in order."""
        rows = self._db.execute("SELECT sim_time_s, level, message FROM event ORDER BY rowid")
        return [BenchStatus(t, level, message) for t, level, message in rows]

    def close(self) -> None:
        """Commit and close the file: a closed journal is one file again (rollback mode,
        no -wal or -shm beside it), which read-only readers open without leaving any."""
        self._db.commit()
        if not self._read_only:
            with contextlib.suppress(sqlite3.Error):  # busy with a reader: stays WAL, fine
                self._db.execute("PRAGMA journal_mode = DELETE")
        self._db.close()


def _market_state(row: tuple[object, ...] | None) -> dict[str, object]:
    """The grid, battery and price-signal columns of one interval (none in older journals)."""
    if row is None:
        return {}
    grid, imp, exp, soc, setpoint, signal, allowance = row
    return {
        "grid": None if grid is None else GridFlow(str(grid), _float(imp), _float(exp)),
        "soc_wh": None if soc is None else _float(soc),
        "battery_setpoint_w": None if setpoint is None else _float(setpoint),
        "signal_wei_per_wh": None if signal is None else _float(signal),
        "step_allowance_wh": _float(allowance),
    }


def _float(value: object) -> float:
    return float(value) if isinstance(value, int | float) else 0.0


def _open_read_only(path: Path) -> sqlite3.Connection:
    """Open ``path`` read-only; NotAJournalError unless it is a gridbench journal."""
    try:
        with path.open("rb") as f:
            magic = f.read(len(_SQLITE_MAGIC))
    except OSError as exc:
        raise ConfigError(
            f"cannot read the run journal {path}: {exc}; pass the journal.sqlite of a run"
        ) from exc
    if magic != _SQLITE_MAGIC:
        raise NotAJournalError(
            f"{path} is not a gridbench run journal (not an SQLite file); "
            "pass the journal.sqlite of a run (runs/<time>/)"
        )
    try:
        db = sqlite3.connect(f"file:{quote(str(path.resolve()))}?mode=ro", uri=True)
        db.execute("PRAGMA query_only = ON")
        names = {r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    except sqlite3.Error as exc:
        raise NotAJournalError(
            f"{path} is not a readable gridbench run journal ({exc}); "
            "pass the journal.sqlite of a run (runs/<time>/)"
        ) from exc
    missing = _TABLES - names
    if missing:
        db.close()
        raise NotAJournalError(
            f"{path} is an SQLite file but not a gridbench run journal (no "
            f"{', '.join(sorted(missing))} table); pass the journal.sqlite of a run"
        )
    return db
