"""SQLite run journal: readings, metered energy, orders, clearings, trades, tx hashes.

One file per run. Written by the scenario worker thread only; readable by anyone
(``sqlite3 runs/<run>/journal.sqlite``) and replayable into the audit.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable
from pathlib import Path

from bench.errors import ConfigError
from bench.events import MeterSample
from pricing import Order, Side, Trade

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
CREATE TABLE IF NOT EXISTS event (
    sim_time_s REAL NOT NULL, level TEXT NOT NULL, message TEXT NOT NULL
);
"""


class Journal:
    """Append-only journal of one run."""

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = sqlite3.connect(self.path, check_same_thread=False)
            self._db.executescript(_SCHEMA)
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

    def add_metered(
        self, interval_id: int, participant: str, import_wh: float, export_wh: float
    ) -> None:
        """Record a participant's metered energy for one interval."""
        self._db.execute(
            "INSERT OR REPLACE INTO metered VALUES (?, ?, ?, ?)",
            (interval_id, participant, import_wh, export_wh),
        )

    def add_feeder(self, interval_id: int, import_wh: float) -> None:
        """Record the feeder meter's net import (Wh) for one interval."""
        self._db.execute("INSERT OR REPLACE INTO feeder VALUES (?, ?)", (interval_id, import_wh))

    def feeder(self) -> dict[int, float]:
        """The feeder's net import per interval."""
        return dict(self._db.execute("SELECT interval_id, import_wh FROM feeder").fetchall())

    def add_orders(self, interval_id: int, orders: Iterable[Order]) -> None:
        """Record an interval's order book."""
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
                for o in orders
            ],
        )

    def add_clearing(
        self,
        interval_id: int,
        price_wei_per_wh: int | None,
        volume_wh: int,
        components_wei_per_wh: dict[str, float],
    ) -> None:
        """Record an interval's clearing and price components."""
        self._db.execute(
            "INSERT OR REPLACE INTO clearing VALUES (?, ?, ?, ?)",
            (interval_id, price_wei_per_wh, volume_wh, json.dumps(components_wei_per_wh)),
        )

    def add_trades(
        self,
        interval_id: int,
        trades: Iterable[Trade],
        status: str,
        tx_hash: str | None = None,
        reasons: Iterable[str] | None = None,
    ) -> None:
        """Record trades with their status (cleared, settled, rejected)."""
        trades = list(trades)
        reason_list = list(reasons) if reasons is not None else [None] * len(trades)
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
                    tx_hash,
                )
                for t, r in zip(trades, reason_list, strict=True)
            ],
        )

    def add_event(self, sim_time_s: float, level: str, message: str) -> None:
        """Record a status event (outage, reconnect, audit finding)."""
        self._db.execute("INSERT INTO event VALUES (?, ?, ?)", (sim_time_s, level, message))

    def commit(self) -> None:
        """Make everything recorded so far durable."""
        self._db.commit()

    def trades(self, status: str) -> list[tuple[int, Trade]]:
        """All trades with a status, as (interval id, trade)."""
        rows = self._db.execute(
            "SELECT interval_id, buyer, seller, energy_wh, price_wei_per_wh FROM trade "
            "WHERE status = ? ORDER BY rowid",
            (status,),
        ).fetchall()
        return [(row[0], Trade(row[1], row[2], row[3], row[4])) for row in rows]

    def orders(self) -> dict[int, list[Order]]:
        """Each interval's order book."""
        out: dict[int, list[Order]] = {}
        for interval_id, participant, side, energy_wh, price, time_s in self._db.execute(
            "SELECT interval_id, participant, side, energy_wh, price_wei_per_wh, time_s "
            "FROM orders ORDER BY rowid"
        ):
            out.setdefault(interval_id, []).append(
                Order(participant, Side(side), energy_wh, price, time_s)
            )
        return out

    def clearings(self) -> dict[int, tuple[int | None, int, dict[str, float]]]:
        """Each interval's (price, volume, price components)."""
        return {
            interval_id: (price, volume, json.loads(components))
            for interval_id, price, volume, components in self._db.execute(
                "SELECT interval_id, price_wei_per_wh, volume_wh, components_json FROM clearing"
            )
        }

    def tx_hashes(self) -> dict[int, str]:
        """The settlement transaction of each interval."""
        return dict(
            self._db.execute(
                "SELECT DISTINCT interval_id, tx_hash FROM trade WHERE status = 'settled' "
                "AND tx_hash IS NOT NULL"
            ).fetchall()
        )

    def metered(self) -> dict[int, dict[str, tuple[float, float]]]:
        """Metered energy as {interval: {participant: (import_wh, export_wh)}}."""
        out: dict[int, dict[str, tuple[float, float]]] = {}
        for interval_id, participant, imp, exp in self._db.execute(
            "SELECT interval_id, participant, import_wh, export_wh FROM metered"
        ):
            out.setdefault(interval_id, {})[participant] = (imp, exp)
        return out

    def close(self) -> None:
        """Commit and close the file."""
        self._db.commit()
        self._db.close()
