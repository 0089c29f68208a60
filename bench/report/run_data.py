"""One finished run as a report shows it: the verdict, the config, every interval and the
per-participant totals, read from its journal alone (read-only).

The HTML, PDF and CSV reports and the panel's run browser all read a run through
:func:`load_run`, so they show the same figures.
"""

from __future__ import annotations

import os
import tomllib
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench.config import ScenarioConfig, load_with_overrides
from bench.config.overrides import apply_overrides, given_parameters, parameter_values
from bench.errors import BenchError
from bench.report.replay import CHECKS, RunReport, check_of, message, replay
from bench.store import Journal, RecordedInterval
from pricing import Finding, Trade


@dataclass(frozen=True)
class ParticipantTotals:
    """What one participant (or the grid) metered, traded and paid over the run."""

    participant: str
    metered_import_wh: float
    metered_export_wh: float
    bought_wh: int
    sold_wh: int
    paid_wei: int
    received_wei: int
    trades: int

    @property
    def net_wei(self) -> int:
        """Received minus paid."""
        return self.received_wei - self.paid_wei


@dataclass(frozen=True)
class RunData:
    """Everything a report of one run shows."""

    journal: Path
    report: RunReport
    config: ScenarioConfig | None
    config_text: str
    overrides: dict[str, object]
    parameters: dict[str, object]
    """Every parameter the run ran with (``table.key`` → value: file, overrides, defaults)."""
    parameters_given: frozenset[str]
    """The parameters the config file or an override set (the others are defaults)."""
    provenance: dict[str, str]
    end_state: str
    started: datetime | None
    wall_duration_s: float | None
    intervals: tuple[RecordedInterval, ...]
    amounts: dict[int, list[tuple[Trade, int, str]]]
    participants: tuple[ParticipantTotals, ...]
    power: dict[str, tuple[list[float], list[float]]]
    """Per meter id: simulated times (s) and power (W) of every reading."""
    meter_participant: dict[str, str] = field(default_factory=dict)
    summary: dict[str, object] = field(default_factory=dict)
    settlements: dict[int, tuple[float, str, str, int, int, int]] = field(default_factory=dict)
    """interval -> (end time s, tx hash, batch hash, block, value wei, energy Wh)."""

    @property
    def name(self) -> str:
        """The run's folder name (``<time>-<config name>``)."""
        return self.journal.parent.name

    @property
    def config_name(self) -> str:
        """The config file's name as the run recorded it."""
        source = self.provenance.get("config_path") or ""
        return Path(source).name if source else "-"

    @property
    def planned_intervals(self) -> int | None:
        return self.report.planned_intervals

    @property
    def energy_traded_wh(self) -> int:
        return sum(t.energy_wh for paid in self.amounts.values() for t, _, _ in paid)

    @property
    def value_settled_wei(self) -> int:
        return sum(v for paid in self.amounts.values() for _, v, _ in paid)

    @property
    def trades_settled(self) -> int:
        return sum(len(paid) for paid in self.amounts.values())

    @property
    def trades_rejected(self) -> int:
        return sum(len(k.rejected_trades) for k in self.intervals)

    @property
    def verdict(self) -> str:
        """``PASS``, or ``FAIL`` with why (see :func:`verdict_text`)."""
        return verdict_text(self.report, self.end_state)


def verdict_text(report: RunReport, end_state: str = "") -> str:
    """The verdict in one line, the audit's findings first: ``PASS: …`` or ``FAIL: …``."""
    findings = report.audit.findings
    done = len(report.rows)
    planned = report.planned_intervals
    of = f"{done} of {planned}" if planned is not None else f"{done}"
    if report.clean:
        return f"PASS: {of} intervals settled, every check clean"
    first = message(findings[0])
    more = f" (and {len(findings) - 1} more)" if len(findings) > 1 else ""
    state = {"stopped": "stopped", "failed": "failed"}.get(end_state, "")
    ended = f"; run {state} after {of} intervals" if state else f"; {of} intervals"
    return f"FAIL: {len(findings)} findings: {first}{more}{ended}"


def run_started(folder_name: str) -> datetime | None:
    """The UTC start time in a run folder's name (``20261202T012943902540Z-demo``)."""
    stamp = folder_name.split("-", 1)[0]
    try:
        return datetime.strptime(stamp, "%Y%m%dT%H%M%S%fZ").replace(tzinfo=UTC)
    except ValueError:
        return None


def load_run(path: Path | str, chain_url: str | None = None) -> RunData:
    """Read a run (its folder or journal.sqlite) and replay its verdict."""
    path = Path(path)
    journal_path = path / "journal.sqlite" if path.is_dir() else path
    report = replay(journal_path, chain_url)
    journal = Journal(journal_path, read_only=True)
    try:
        return _read(journal, journal_path, report)
    finally:
        journal.close()


def _read(journal: Journal, path: Path, report: RunReport) -> RunData:
    meta = journal.meta
    text = meta("config_text")
    text = text if isinstance(text, str) else ""
    overrides = meta("overrides")
    overrides = dict(overrides) if isinstance(overrides, dict) else {}
    provenance = {
        key: str(meta(key) or "")
        for key in (
            "config_path",
            "gridbench_version",
            "git_revision",
            "contracts_sha256",
            "firmware_sha256",
            "config_sha256",
            "mechanism",
            "chain_url",
            "market_address",
        )
    }
    config = _config(provenance["config_path"], text, overrides)
    intervals = tuple(journal.intervals())
    amounts = journal.amounts()
    started = run_started(path.parent.name)
    wall = None
    if started is not None:
        wall = max(0.0, os.stat(path).st_mtime - started.timestamp())
    summary = meta("summary")
    parameters, given = _parameters(text, overrides)
    return RunData(
        journal=path,
        report=report,
        config=config,
        config_text=text,
        overrides=overrides,
        parameters=parameters,
        parameters_given=given,
        provenance=provenance,
        end_state=str(meta("end_state") or ""),
        started=started,
        wall_duration_s=wall,
        intervals=intervals,
        amounts=amounts,
        participants=_totals(journal, amounts, intervals),
        power=journal.power_series(),
        meter_participant={} if config is None else config.meter_owners,
        summary=dict(summary) if isinstance(summary, dict) else {},
        settlements=journal.settlements(),
    )


def _config(source: str, text: str, overrides: dict[str, object]) -> ScenarioConfig | None:
    if not text:
        return None
    try:
        return load_with_overrides(Path(source or "bench.toml"), overrides, text=text)
    except BenchError:
        return None  # the verdict says why (config_unreadable)


def _parameters(
    text: str, overrides: dict[str, object]
) -> tuple[dict[str, object], frozenset[str]]:
    """The run's effective parameters and those the file or an override set; empty when
    the recorded text does not parse (the verdict says why)."""
    try:
        document = apply_overrides(tomllib.loads(text), overrides)
    except (tomllib.TOMLDecodeError, BenchError):
        return {}, frozenset()
    return parameter_values(document), frozenset(given_parameters(document))


def _totals(
    journal: Journal,
    amounts: dict[int, list[tuple[Trade, int, str]]],
    intervals: tuple[RecordedInterval, ...],
) -> tuple[ParticipantTotals, ...]:
    metered = journal.energy_totals_wh()
    bought, sold, trades = Counter[str](), Counter[str](), Counter[str]()
    paid: dict[str, int] = {}
    received: dict[str, int] = {}
    for settled in amounts.values():
        for trade, value_wei, _ in settled:
            bought[trade.buyer] += trade.energy_wh
            sold[trade.seller] += trade.energy_wh
            paid[trade.buyer] = paid.get(trade.buyer, 0) + value_wei
            received[trade.seller] = received.get(trade.seller, 0) + value_wei
            trades[trade.buyer] += 1
            trades[trade.seller] += 1
    names = set(metered) | set(bought) | set(sold)
    for kept in intervals:
        names.update(o.participant for o in kept.orders)
    return tuple(
        ParticipantTotals(
            name,
            metered.get(name, (0.0, 0.0))[0],
            metered.get(name, (0.0, 0.0))[1],
            bought[name],
            sold[name],
            paid.get(name, 0),
            received.get(name, 0),
            trades[name],
        )
        for name in sorted(names)
    )


def findings_by_check(report: RunReport) -> dict[str, list[Finding]]:
    """The findings grouped by the check that raised them, in the verdict's order."""
    grouped: dict[str, list[Finding]] = {check: [] for check in CHECKS}
    for finding in report.audit.findings:
        grouped.setdefault(check_of(finding), []).append(finding)
    return grouped
