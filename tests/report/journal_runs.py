"""What the report tests share: the bench config of their runs, the honest run's record,
and journal tampering helpers that rewrite the hash chain the way a careful forger would.

Test modules import it as ``tests.report.journal_runs`` (a module path of its own: a bare
``from conftest import`` finds whichever folder's conftest was imported first).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from pathlib import Path

from bench.store import Journal
from bench.store.digest import chain_digest, genesis
from tests.configs import consumer, meter_block, prosumer, run_config


def write_config(
    folder: Path, *, intervals: int = 3, theft_w: float = 0.0, silent_meter: bool = False
) -> Path:
    """The runs' config, written to ``folder/bench.toml``: two sellers and one buyer (the
    buyer takes the cheaper seller's whole offer first), ``theft_w`` drawn past the
    meters; ``silent_meter`` adds an emulated meter that never answers.

    Fake meters stamp each reading with the instant its energy was counted, so meters are
    cut at boundaries without the host's timing jitter (what issue 12's meter-time cut
    brings to the other kinds): the energy balance closes on a loaded machine."""
    silent = meter_block("spare", "emulated", faults={"drop_rate": 1.0})
    text = run_config(
        intervals=intervals,
        scenario={"feeder_meter": "feeder", "unmetered_load_w": theft_w},
        meters=[
            meter_block("roof", "fake", -10000.0),
            meter_block("barn", "fake", -5000.0),
            meter_block("flat", "fake", 8000.0),
            meter_block("feeder", "fake"),
            *([silent] if silent_meter else []),
        ],
        participants=[prosumer("roof", 70), prosumer("barn", 60), consumer("flat")],
    )
    path = folder / "bench.toml"
    path.write_text(text)
    return path


def journal_of(runs: Path) -> Path:
    (journal,) = runs.glob("*/journal.sqlite")
    return journal


@dataclass(frozen=True)
class HonestRun:
    journal: Path
    junit: Path
    exit_code: int
    chain_url: str
    output: str


def edit(path: Path, *statements: str) -> None:
    """Run SQL on a journal, as anyone with the file could."""
    with sqlite3.connect(path) as db:
        for sql in statements:
            db.execute(sql)
    db.close()


def reseal(path: Path) -> None:
    """Recompute the hash chain and the seal over what the journal now holds (the forger
    knows the format: only the chain, which holds the settlements, cannot be rewritten)."""
    journal = Journal(path)
    db = journal._db
    previous = genesis(str(journal.meta("config_sha256") or ""))
    ids = [r[0] for r in db.execute("SELECT interval_id FROM clearing ORDER BY interval_id")]
    db.execute("DELETE FROM digest")
    for i in ids:
        digest = chain_digest(journal.interval_payload(i), previous)
        db.execute("INSERT INTO digest VALUES (?, ?, ?)", (i, previous, digest))
        previous = digest
    journal.seal(dict(journal.meta("summary") or {}))  # type: ignore[call-overload]
    journal.close()
