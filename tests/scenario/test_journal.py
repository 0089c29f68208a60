"""The run journal keeps what a run recorded and gives it back as typed records."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.chain import Settlement
from bench.errors import ConfigError
from bench.events import (
    BenchStatus,
    IntervalReport,
    LinkState,
    MeteredEnergy,
    MeterLink,
    RunStarted,
    WorkerState,
    WorkerStatus,
)
from bench.store import Journal, JournalRecorder
from pricing import (
    AuditReport,
    Charges,
    EnergyBalance,
    Finding,
    Forecast,
    Order,
    Side,
    StorageModel,
    Trade,
    price_interval,
)


def _report() -> IntervalReport:
    orders = (Order("roof", Side.OFFER, 120, 80, 2700.0), Order("flat", Side.BID, 50, 300, 2700.0))
    pricing = price_interval(
        orders,
        soc_wh=500.0,
        forecast=Forecast.persistence([100.0], [200.0], step_h=0.25),
        model=StorageModel(capacity_wh=1000.0, power_limit_w=500.0),
        charges=Charges(60.0, 20.0, 0.1),
    )
    settled = Trade("flat", "roof", 40, 150)
    rejected = Trade("poor", "roof", 10, 150)
    settlement = Settlement(
        3, "0xabc", "0xbatch", 7, (settled,), ((rejected, "NoFunds"),), 1, 6000, 40
    )
    balance = EnergyBalance(3, 120.25, 0.5, 2.4, -118.0, 2.0)
    finding = Finding(3, "energy_imbalance", "118 Wh surplus")
    return IntervalReport(
        interval_id=3,
        sim_time_s=2700.0,
        metered=(MeteredEnergy("roof", 0.5, 120.25), MeteredEnergy("flat", 50.0, 0.0)),
        feeder_import_wh=-118.0,
        orders=orders,
        pricing=pricing,
        settlement=settlement,
        audit=AuditReport(1, 6000, 6000, (balance,), (finding,)),
    )


def test_round_trip_through_the_recorder(tmp_path: Path) -> None:
    report = _report()
    recorder = JournalRecorder(tmp_path / "runs")
    recorder.record(RunStarted("bench.toml", "pay_as_clear", 0.02, 0.5, "http://x", "0xm"))
    recorder.record(MeterLink(10.0, "roof", LinkState.OUTAGE, "stalled"))
    recorder.record(WorkerStatus(11.0, WorkerState.RUNNING))  # the worker's own state: not kept
    recorder.record(report)
    recorder.close()
    assert recorder.path is not None and recorder.path.parent.parent == tmp_path / "runs"

    journal = Journal(recorder.path)
    assert journal.meta("chain_url") == "http://x"
    assert journal.meta("tolerance_fraction") == 0.5
    assert journal.meta("missing") is None
    (kept,) = journal.intervals()
    assert kept.interval_id == 3
    assert kept.metered == report.metered
    assert kept.feeder_import_wh == -118.0
    assert kept.orders == report.orders
    assert kept.price_wei_per_wh == report.pricing.clearing.price_wei_per_wh
    assert kept.volume_wh == report.pricing.clearing.volume_wh == 50
    assert kept.price_components_wei_per_wh == report.pricing.price.as_dict()
    assert kept.settled_trades == (Trade("flat", "roof", 40, 150),)
    assert kept.rejected_trades == ((Trade("poor", "roof", 10, 150), "NoFunds"),)
    assert kept.tx_hash == "0xabc"
    lines = journal.status_lines()
    journal.close()
    assert lines == [
        BenchStatus(10.0, "warning", "meter roof outage: stalled; reconnecting"),
        BenchStatus(2700.0, "audit", "interval 3: energy_imbalance: 118 Wh surplus"),
    ]


def test_unwritable_folder_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    with pytest.raises(ConfigError, match="--journal"):
        Journal(blocker / "journal.sqlite")
    recorder = JournalRecorder(blocker)
    with pytest.raises(ConfigError, match="--journal"):
        recorder.record(MeterLink(0.0, "m", LinkState.ONLINE, "gridmeter"))


def test_each_reading_counts_in_the_interval_it_was_taken_in(tmp_path: Path) -> None:
    """A bench fallen behind drains several intervals' readings at once: each counts in
    the interval its own time falls in (2,700 s ends interval 3 here), not the one being
    recorded when it arrived (counted by arrival, interval 3 got all five and interval 4
    none: a ``no_reading`` finding for a meter that reported all along)."""
    from dataclasses import replace

    from bench.events import MeterSample

    recorder = JournalRecorder(tmp_path / "runs")
    recorder.record(RunStarted("bench.toml", "pay_as_clear", 0.02, 0.5, "http://x", "0xm"))
    for t_s in (2000.0, 2400.0, 2700.0, 3000.0, 3300.0):
        recorder.record(MeterSample("roof", "roof", t_s, -500.0, 0.0, 1.0, True))
    report = _report()
    recorder.record(report)
    recorder.record(
        replace(
            report,
            interval_id=4,
            sim_time_s=3600.0,
            settlement=replace(report.settlement, interval_id=4),
        )
    )
    recorder.close()
    assert recorder.path is not None
    journal = Journal(recorder.path)
    coverage = journal.coverage()
    journal.close()
    assert coverage[3] == {"roof": 3} and coverage[4] == {"roof": 2}
