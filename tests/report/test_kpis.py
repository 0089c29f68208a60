"""The run's KPIs: a hand-computed day, and ``gridbench report --json`` on a real journal."""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from dataclasses import replace
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import pytest

from bench.config import AggregatorConfig, parse_scenario
from bench.events import MeteredEnergy
from bench.report import svg_plot
from bench.report.kpis import SERIES, area_kpis, compute_kpis
from bench.report.svg_plot import line_chart
from bench.store import RecordedInterval
from gridbench.cli import main
from pricing import GridFlow, Trade
from tests.report.journal_runs import HonestRun

PARTICIPANTS = [
    ("roof", "prosumer", "campus"),
    ("dorm", "consumer", "campus"),
    ("storage", "prosumer", "campus"),
    ("shop", "consumer", "city"),
    ("clinic", "consumer", "city"),
    ("city-roof", "prosumer", "city"),
]


def config() -> Any:
    """One day in four 6-hour intervals; the grid's tariff changes with each."""
    meters = [{"id": n, "kind": "fake"} for n, _, _ in PARTICIPANTS] + [
        {"id": "feeder", "kind": "fake"}
    ]
    return parse_scenario(
        {
            "scenario": {
                "market_interval_s": 21_600,
                "intervals": 4,
                "start_hour": 0.0,
                "speed": 1.0,
                "feeder_meter": "feeder",
            },
            "meters": meters,
            "participants": [
                {"name": n, "role": r, "meter": n, "area": a} for n, r, a in PARTICIPANTS
            ],
            "grid": {"import_schedule": [[0, 150], [6, 260], [12, 200], [18, 300]]},
            "battery": {"participant": "storage", "meter": "storage"},
        }
    )


def interval(
    i: int,
    metered: dict[str, tuple[float, float]],
    trades: list[tuple[str, str, int, int]],
    feeder: tuple[float, float],
) -> RecordedInterval:
    return RecordedInterval(
        interval_id=i,
        metered=tuple(MeteredEnergy(p, imp, exp) for p, (imp, exp) in metered.items()),
        feeder_import_wh=feeder[0],
        orders=(),
        price_wei_per_wh=None,
        volume_wh=0,
        price_components_wei_per_wh={},
        settled_trades=tuple(Trade(b, s, e, p) for s, b, e, p in trades),
        rejected_trades=(),
        tx_hash=None,
        grid=GridFlow("grid", feeder[0], feeder[1]),
    )


DAY = [
    # night, tariff 150: the battery discharges to the dorm, the grid serves the rest
    interval(
        1,
        {
            "roof": (0, 0),
            "dorm": (500, 0),
            "storage": (0, 400),
            "shop": (300, 0),
            "clinic": (200, 0),
        },
        [
            ("storage", "dorm", 400, 120),
            ("grid", "dorm", 100, 150),
            ("grid", "shop", 300, 150),
            ("grid", "clinic", 200, 150),
        ],
        (600, 0),
    ),
    # morning, tariff 260: the roof sells to everyone, charges the battery, exports 800
    interval(
        2,
        {
            "roof": (0, 3000),
            "dorm": (400, 0),
            "storage": (1000, 0),
            "shop": (500, 0),
            "clinic": (300, 0),
        },
        [
            ("roof", "dorm", 400, 100),
            ("roof", "shop", 500, 100),
            ("roof", "clinic", 300, 100),
            ("roof", "storage", 1000, 90),
            ("roof", "grid", 800, 80),
        ],
        (0, 800),
    ),
    # afternoon, tariff 200: a city roof sells to the shop too (city to city: no shortfall
    # covered by the campus)
    interval(
        3,
        {
            "roof": (0, 1900),
            "dorm": (200, 0),
            "storage": (0, 0),
            "shop": (600, 0),
            "clinic": (400, 0),
            "city-roof": (0, 100),
        },
        [
            ("roof", "dorm", 200, 110),
            ("roof", "shop", 500, 110),
            ("city-roof", "shop", 100, 150),
            ("roof", "clinic", 400, 110),
            ("roof", "grid", 800, 80),
        ],
        (0, 800),
    ),
    # evening, tariff 300: the battery covers part of the city's shop
    interval(
        4,
        {
            "roof": (0, 0),
            "dorm": (600, 0),
            "storage": (0, 500),
            "shop": (700, 0),
            "clinic": (300, 0),
        },
        [
            ("storage", "shop", 500, 200),
            ("grid", "dorm", 600, 300),
            ("grid", "shop", 200, 300),
            ("grid", "clinic", 300, 300),
        ],
        (1100, 0),
    ),
]


def test_the_kpis_of_a_hand_computed_day() -> None:
    k = compute_kpis(config(), DAY, curtailed_wh={"roof": 120.0}, shed_wh={"shop": 40.0})
    assert k.pv_wh == 5000  # the roofs' 3000 + 1900 + 100; the battery's 900 is storage
    assert k.exported_wh == 1600  # the feeder's export
    assert k.self_consumed_wh == 3400
    assert k.traded_local_wh == 400 + 2200 + 1200 + 500
    assert k.city_demand_wh == 2100 + 1200
    assert k.shortfall_covered_wh == 800 + 900 + 500
    assert k.curtailed_wh == 120 and k.shed_wh == 40
    assert k.prosumer_revenue_wei == 48_000 + 274_000 + (121_000 + 15_000 + 64_000) + 100_000
    # (tariff − price) × energy: 400·30; (400 + 500 + 300)·160 + 1000·170;
    # 1100·90 + 100·50; 500·100
    assert k.consumer_savings_wei == 12_000 + 362_000 + 104_000 + 50_000
    assert k.self_sufficiency == pytest.approx((5000 - 1700) / 5000)  # imports 1700 of 5000
    assert k.self_consumption == pytest.approx(3400 / 5000)
    assert set(k.as_json()) >= {"pv_wh", "shortfall_covered_wh", "self_sufficiency"}
    assert k.battery_throughput_wh == 1000 + 400 + 500
    assert k.peak_import_w == pytest.approx(1100 / 6)  # the evening's feeder import over 6 h
    assert k.emissions_avoided_kg == pytest.approx(5.0 * 0.710)  # 5 kWh of PV, 710 g/kWh


def test_the_kpis_of_each_area_of_the_hand_computed_day() -> None:
    areas = area_kpis(config(), DAY, curtailed_wh={"roof": 120.0}, shed_wh={"shop": 40.0})
    campus, city = areas["campus"], areas["city"]
    assert set(areas) == {"campus", "city"}
    assert campus.pv_wh == 4900 and city.pv_wh == 100
    assert campus.exported_wh == 1600 and city.exported_wh == 0  # sold to the grid
    # the campus roof's 4900: 1600 to the grid, 1700 to the city, the rest at home
    assert campus.self_consumed_wh == 400 + 200 + 1000 and city.self_consumed_wh == 100
    assert campus.traded_local_wh == 400 + 400 + 1000 + 200 and city.traded_local_wh == 100
    assert campus.city_demand_wh == 0 and city.city_demand_wh == 3300
    # campus to city, seen from either side: the roof's 1700 and the battery's 500
    assert campus.shortfall_covered_wh == city.shortfall_covered_wh == 2200
    assert (campus.curtailed_wh, campus.shed_wh, city.curtailed_wh, city.shed_wh) == (
        120,
        0,
        0,
        40,
    )
    assert campus.prosumer_revenue_wei == 48_000 + 274_000 + 185_000 + 100_000
    assert city.prosumer_revenue_wei == 15_000
    # the dorm's and the battery's local purchases; the shop's and the clinic's
    assert campus.consumer_savings_wei == 12_000 + 64_000 + 170_000 + 18_000
    assert city.consumer_savings_wei == 80_000 + 48_000 + 45_000 + 5_000 + 36_000 + 50_000
    assert campus.self_sufficiency == pytest.approx((1700 - 700) / 1700)
    assert city.self_sufficiency == pytest.approx((3300 - 1000) / 3300)
    assert campus.self_consumption == pytest.approx(1600 / 4900)
    assert campus.battery_throughput_wh == 1900 and city.battery_throughput_wh == 0
    assert campus.peak_import_w == pytest.approx(600 / 6)
    assert city.peak_import_w == pytest.approx(500 / 6)
    assert campus.emissions_avoided_kg == pytest.approx(4.9 * 0.710)
    run = compute_kpis(config(), DAY, curtailed_wh={"roof": 120.0}, shed_wh={"shop": 40.0})
    for name in ("pv_wh", "prosumer_revenue_wei", "consumer_savings_wei", "city_demand_wh"):
        assert getattr(campus, name) + getattr(city, name) == getattr(run, name), name


def test_without_a_feeder_the_grid_trades_stand_for_the_flows() -> None:
    no_feeder = [
        RecordedInterval(**{**vars(kept), "grid": None, "feeder_import_wh": None}) for kept in DAY
    ]
    k = compute_kpis(config(), no_feeder)
    assert k.exported_wh == 1600  # sold to the grid: 800 + 800
    assert k.self_sufficiency == pytest.approx((5000 - 1700) / 5000)  # bought 600 + 1100


def test_report_json_carries_the_kpis_of_the_journal(honest_run: HonestRun) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        main(["report", "--json", str(honest_run.journal)])
    kpis = json.loads(out.getvalue())["kpis"]
    with sqlite3.connect(f"file:{honest_run.journal}?mode=ro", uri=True) as db:
        (pv,) = db.execute(
            "SELECT SUM(export_wh) FROM metered WHERE participant IN ('roof', 'barn')"
        ).fetchone()
        (local,) = db.execute(
            "SELECT COALESCE(SUM(energy_wh), 0) FROM trade WHERE status = 'settled'"
        ).fetchone()
        (revenue,) = db.execute(
            "SELECT COALESCE(SUM(energy_wh * price_wei_per_wh), 0) FROM trade "
            "WHERE status = 'settled'"
        ).fetchone()
    db.close()
    assert pv > 0 and kpis["pv_wh"] == pytest.approx(pv)
    assert kpis["traded_local_wh"] == local  # no grid in this run: every trade is local
    assert kpis["prosumer_revenue_wei"] == revenue
    assert kpis["city_demand_wh"] == 0 and kpis["curtailed_wh"] == 0


def test_compare_prints_both_runs_and_their_difference(
    honest_run: HonestRun, journal: Path
) -> None:
    with sqlite3.connect(journal) as db:  # run B: the roof exported 1000 Wh more in interval 1
        db.execute(
            "UPDATE metered SET export_wh = export_wh + 1000 "
            "WHERE participant = 'roof' AND interval_id = 1"
        )
    db.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["compare", "--json", str(honest_run.journal), str(journal)]) == 0
    kpis = json.loads(out.getvalue())["kpis"]
    assert kpis["pv_wh"]["b"] - kpis["pv_wh"]["a"] == pytest.approx(1000.0)
    assert kpis["traded_local_wh"]["a"] == kpis["traded_local_wh"]["b"]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["compare", str(honest_run.journal), str(journal)]) == 0
    (line,) = [x for x in out.getvalue().splitlines() if x.startswith("pv_wh")]
    assert line.split()[3] == "1,000" and line.split()[4] == "Wh"


def polylines(svg: Path) -> dict[str, list[tuple[float, float]]]:
    """Each polyline's (x, y) points by its title."""
    ns = {"s": "http://www.w3.org/2000/svg"}
    root = ElementTree.parse(svg).getroot()
    out = {}
    for line in root.findall("s:polyline", ns):
        title = line.find("s:title", ns)
        assert title is not None and title.text is not None
        pts = [tuple(map(float, p.split(","))) for p in line.attrib["points"].split()]
        out[title.text] = [(x, y) for x, y in pts]
    return out


def test_the_chart_puts_zero_on_the_axis_and_the_largest_value_on_top(tmp_path: Path) -> None:
    svg = tmp_path / "c.svg"
    svg.write_text(line_chart("pv", "Wh", {"A": [0.0, 50.0, 100.0], "B": [25.0, 25.0, 25.0]}))
    lines = polylines(svg)
    bottom, top = svg_plot.BOTTOM, svg_plot.TOP  # the axis runs 0..100, a round top
    left, right = svg_plot.LEFT, svg_plot.RIGHT
    assert lines["A"] == [(left, bottom), ((left + right) / 2, (top + bottom) / 2), (right, top)]
    assert {y for _, y in lines["B"]} == {bottom - (bottom - top) / 4}


def test_the_axis_tops_at_a_round_value_labelled_in_kwh_from_10_kwh() -> None:
    assert svg_plot.axis_top(42_446.0) == 50_000.0  # 42,446 / 5 ticks: 10 kWh steps
    assert svg_plot.axis_top(0.0) == 1.0 and svg_plot.axis_top(100.0) == 100.0
    chart = line_chart("pv", "Wh per 15-min interval", {"A": [0.0, 42_446.0]})
    assert "kWh per 15-min interval" in chart and ">50<" in chart and ">40<" in chart


def test_compare_writes_the_per_interval_plots(
    honest_run: HonestRun, journal: Path, tmp_path: Path
) -> None:
    with sqlite3.connect(journal) as db:
        db.execute(
            "UPDATE metered SET export_wh = export_wh + 1000 "
            "WHERE participant = 'roof' AND interval_id = 2"
        )
    db.close()
    plots = tmp_path / "plots"
    with contextlib.redirect_stdout(io.StringIO()):
        assert main(["compare", str(honest_run.journal), str(journal), "--plots", str(plots)]) == 0
    assert sorted(p.stem for p in plots.glob("*.svg")) == sorted(SERIES)
    lines = polylines(plots / "pv_wh.svg")
    (a,) = [pts for label, pts in lines.items() if label.startswith("A: market")]
    (b,) = [pts for label, pts in lines.items() if label.startswith("B: market")]
    assert len(a) == len(b) == 3  # three intervals
    moved = [i for i, (pa, pb) in enumerate(zip(a, b, strict=True)) if pa != pb]
    assert moved == [1] and b[1][1] < a[1][1]  # interval 2 only, and higher


def test_curtailed_and_shed_rows_reach_the_kpis_and_the_digest_covers_them(
    honest_run: HonestRun, journal: Path
) -> None:
    with sqlite3.connect(journal) as db:  # a run whose meters followed the grid's limits
        db.execute("INSERT INTO curtailment VALUES (1, 'roof', 250.5)")
        db.execute("INSERT INTO curtailment VALUES (2, 'roof', 100.0)")
        db.execute("INSERT INTO shedding VALUES (2, 'barn', 40.0)")
    db.close()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["report", "--json", str(journal)])
    report = json.loads(out.getvalue())
    assert report["kpis"]["curtailed_wh"] == pytest.approx(350.5)
    assert report["kpis"]["shed_wh"] == pytest.approx(40.0)
    assert report["kpis"]["areas"]["campus"]["curtailed_wh"] == pytest.approx(350.5)
    # rows added after the intervals were digested: the digest chain no longer matches
    assert code == 1
    assert any("digest" in f for f in report["findings"]), report["findings"]


def test_the_aggregator_flows_are_counted_once_in_the_run_and_each_area() -> None:
    """One interval at 200 wei/Wh (hour 12): roof exports 1,000 Wh, dorm takes 300 Wh of
    it at 120; the pool's 700 Wh go to the city through the aggregator: shop buys them at
    200 (140,000 wei), the aggregator keeps 5 % (7,000) and pays roof 133,000 (190/Wh).
    Energy: 300 + 700 = 1,000 Wh traded locally, 700 through the aggregator, 700 of the
    city's demand covered; roof's revenue 36,000 + 133,000; shop saves nothing (it paid
    the tariff), dorm saves 80 × 300."""
    cfg = config()
    cfg = replace(cfg, aggregator=AggregatorConfig(fee_bp=500))
    kept = interval(
        3,
        {"roof": (0.0, 1000.0), "dorm": (300.0, 0.0), "shop": (700.0, 0.0)},
        [
            ("roof", "dorm", 300, 120),
            ("aggregator", "shop", 700, 200),
            ("roof", "aggregator", 700, 190),
        ],
        (0.0, 14.0),
    )
    run = compute_kpis(cfg, [kept])
    assert run.traded_local_wh == 1000 and run.via_aggregator_wh == 700
    assert run.shortfall_covered_wh == 700
    assert run.prosumer_revenue_wei == 300 * 120 + 700 * 190
    assert run.pass_through_wei == 133_000 and run.aggregator_fee_wei == 7_000
    assert run.consumer_savings_wei == 80 * 300
    areas = area_kpis(cfg, [kept])
    campus, city = areas["campus"], areas["city"]
    assert campus.via_aggregator_wh == city.via_aggregator_wh == 700
    assert campus.shortfall_covered_wh == city.shortfall_covered_wh == 700
    assert campus.traded_local_wh == 300 and city.traded_local_wh == 0
    assert campus.pass_through_wei == 133_000 and city.pass_through_wei == 0
    assert campus.prosumer_revenue_wei == 300 * 120 + 133_000
    assert campus.self_consumed_wh == 300  # the 700 Wh left the campus
    assert city.consumer_savings_wei == 0 and city.city_demand_wh == 700
