"""The report's tables, one definition for the HTML, the PDF and the CSV files.

Prices a person reads are in LABC/kWh and amounts in LABC; each CSV keeps the exact
integers beside them (``*_wei``, ``*_wei_per_wh``), as the JSON output does.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

from bench.report.replay import check_of, message
from bench.report.run_data import RunData, findings_by_check
from pricing.units import labc, labc_per_kwh


@dataclass(frozen=True)
class Table:
    """A titled table: ``name`` is its CSV file's stem and its HTML id."""

    name: str
    title: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]

    def csv_text(self) -> str:
        """The table as CSV (a header line, then one line per row)."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(self.headers)
        writer.writerows(self.rows)
        return out.getvalue()


def _wh(value: float | None) -> str:
    return "-" if value is None else f"{value:.1f}"


def findings_table(data: RunData) -> Table:
    """Every finding of the verdict, in order: where, the check, the kind, what."""
    rows = tuple(
        (
            "run" if f.interval_id == 0 else str(f.interval_id),
            check_of(f),
            f.kind,
            f.participant or "",
            f.message,
        )
        for f in data.report.audit.findings
    )
    return Table(
        "findings",
        "Audit findings",
        ("interval", "check", "kind", "participant", "message"),
        rows,
    )


def key_figures_table(data: RunData) -> Table:
    """The run at a glance."""
    planned = data.planned_intervals
    rows = [
        ("verdict", data.verdict),
        ("run", data.name),
        ("config", data.config_name),
        ("end state", data.end_state or "-"),
        ("intervals", f"{len(data.intervals)} of {planned if planned is not None else '?'}"),
        ("trades settled", str(data.trades_settled)),
        ("trades rejected", str(data.trades_rejected)),
        ("energy traded (Wh)", str(data.energy_traded_wh)),
        ("value settled (LABC)", labc(data.value_settled_wei)),
        ("settlements recomputed", str(data.report.audit.settlements_checked)),
        ("started (UTC)", data.started.strftime("%Y-%m-%d %H:%M:%S") if data.started else "-"),
        (
            "duration (wall, s)",
            "-" if data.wall_duration_s is None else f"{data.wall_duration_s:.1f}",
        ),
        ("mechanism", data.provenance.get("mechanism") or "-"),
    ]
    if data.report.cusum is not None:
        c = data.report.cusum
        rows.append(("CUSUM peak / threshold (Wh)", f"{c.peak_wh:.1f} / {c.threshold_wh:.1f}"))
    return Table("summary", "Key figures", ("figure", "value"), tuple(rows))


def participants_table(data: RunData) -> Table:
    """Per participant: energy metered, bought and sold, LABC paid and received."""
    rows = tuple(
        (
            p.participant,
            _wh(p.metered_import_wh),
            _wh(p.metered_export_wh),
            str(p.bought_wh),
            str(p.sold_wh),
            labc(p.paid_wei),
            labc(p.received_wei),
            labc(p.net_wei),
            str(p.trades),
            str(p.paid_wei),
            str(p.received_wei),
        )
        for p in data.participants
    )
    return Table(
        "participants",
        "Per-participant totals",
        (
            "participant",
            "metered import (Wh)",
            "metered export (Wh)",
            "bought (Wh)",
            "sold (Wh)",
            "paid (LABC)",
            "received (LABC)",
            "net (LABC)",
            "trades",
            "paid_wei",
            "received_wei",
        ),
        rows,
    )


def intervals_table(data: RunData) -> Table:
    """One row per interval: the book, the clearing, the settlement and the balance; an
    interval a resume settled for a killed run has its settlement only (its book and
    clearing were never recorded)."""
    rows: list[tuple[str, ...]] = []
    for i, (_, _, _, value_wei, _, sent_again) in data.report.recovered.items():
        how = "a resume (sent again)" if sent_again else "a resume (found on chain)"
        settled = str(len(data.amounts.get(i, [])))
        rows.append(
            (str(i), *[""] * 5, settled, "", labc(value_wei), *[""] * 5, str(value_wei), how)
        )
    for r in data.report.rows:
        rows.append(
            (
                str(r.interval_id),
                str(r.bid_wh),
                str(r.offered_wh),
                str(r.cleared_wh),
                labc_per_kwh(r.price_wei_per_wh),
                labc_per_kwh(r.instantaneous_price_wei_per_wh),
                str(r.settled),
                str(r.rejected),
                labc(r.value_settled_wei),
                _wh(r.unexplained_wh),
                _wh(r.soc_wh),
                _wh(r.grid_import_wh),
                _wh(r.grid_export_wh),
                "" if r.price_wei_per_wh is None else str(r.price_wei_per_wh),
                str(r.value_settled_wei),
                "the run",
            )
        )
    rows.sort(key=lambda row: int(row[0]))
    return Table(
        "intervals",
        "Intervals",
        (
            "interval",
            "bid (Wh)",
            "offered (Wh)",
            "cleared (Wh)",
            "price (LABC/kWh)",
            "instantaneous (LABC/kWh)",
            "settled",
            "rejected",
            "value (LABC)",
            "unexplained (Wh)",
            "battery SoC (Wh)",
            "grid import (Wh)",
            "grid export (Wh)",
            "price_wei_per_wh",
            "value_wei",
            "settled by",
        ),
        tuple(rows),
    )


def trades_table(data: RunData) -> Table:
    """Every trade settled (with its amount and transaction) or rejected (with why)."""
    rows = []
    recorded = {kept.interval_id: kept for kept in data.intervals}
    for i in sorted(set(recorded) | set(data.amounts)):  # with those a resume settled
        for trade, value_wei, tx in data.amounts.get(i, []):
            rows.append(
                (
                    str(i),
                    trade.buyer,
                    trade.seller,
                    str(trade.energy_wh),
                    labc_per_kwh(trade.price_wei_per_wh),
                    labc(value_wei),
                    "settled",
                    tx,
                    str(trade.price_wei_per_wh),
                    str(value_wei),
                )
            )
        for trade, reason in recorded[i].rejected_trades if i in recorded else ():
            rows.append(
                (
                    str(i),
                    trade.buyer,
                    trade.seller,
                    str(trade.energy_wh),
                    labc_per_kwh(trade.price_wei_per_wh),
                    labc(trade.value_wei),
                    f"rejected: {reason}",
                    "",
                    str(trade.price_wei_per_wh),
                    "0",
                )
            )
    return Table(
        "trades",
        "Trades",
        (
            "interval",
            "buyer",
            "seller",
            "energy (Wh)",
            "price (LABC/kWh)",
            "value (LABC)",
            "status",
            "transaction",
            "price_wei_per_wh",
            "value_wei",
        ),
        tuple(rows),
    )


def meters_table(data: RunData) -> Table:
    """Every meter that reported: its owner, readings, and who signs its counters."""
    attested = data.report.meters
    ids = sorted(set(data.power) | set(attested) | set(data.meter_participant))
    rows = []
    for meter in ids:
        how = attested.get(meter, {}).get("attestation", "")
        rows.append(
            (
                meter,
                data.meter_participant.get(meter, ""),
                str(len(data.power.get(meter, ([], []))[0])),
                {"meter": "meter-signed", "bench": "attested by bench"}.get(how, "-"),
                attested.get(meter, {}).get("signer", ""),
            )
        )
    return Table(
        "meters",
        "Meters",
        ("meter", "participant", "readings", "attestation", "signer"),
        tuple(rows),
    )


def checks_table(data: RunData) -> Table:
    """Each check of the verdict with its number of findings."""
    rows = tuple(
        (
            check,
            "pass" if not found else "FAIL",
            str(len(found)),
            message(found[0]) if found else "",
        )
        for check, found in findings_by_check(data.report).items()
    )
    return Table("checks", "Checks", ("check", "result", "findings", "first finding"), rows)


def report_tables(data: RunData) -> list[Table]:
    """Every table of the report, in the order it shows them."""
    return [
        key_figures_table(data),
        findings_table(data),
        checks_table(data),
        participants_table(data),
        intervals_table(data),
        trades_table(data),
        meters_table(data),
    ]


def write_csv(data: RunData, folder: Path | str) -> list[Path]:
    """Write every table as ``<folder>/<name>.csv``; return the files written."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for table in report_tables(data):
        path = folder / f"{table.name}.csv"
        path.write_text(table.csv_text())
        written.append(path)
    return written
