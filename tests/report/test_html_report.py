"""``gridbench report RUN --html/--pdf/--csv``: the numbers in the report against the
journal, read independently with SQL (the report reads it through ``Journal``)."""

from __future__ import annotations

import contextlib
import csv
import io
import json
import re
import sqlite3
from dataclasses import dataclass, replace
from decimal import Decimal
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bench.report.colors import meter_color, meter_colors
from bench.report.html_plots import curves_grids, report_plots
from bench.report.run_data import load_run
from gridbench.cli import main
from pricing.units import labc, labc_per_kwh
from tests.report.journal_runs import HonestRun, edit

pytestmark = pytest.mark.chain


class _Tables(HTMLParser):
    """Every ``<table id=…>`` of a page as rows of cell texts; the verdict's text."""

    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self.verdict = ""
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._in_verdict = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if tag == "table" and a.get("id"):
            self._table = a["id"]
            self.tables[self._table] = []
        elif tag == "tr" and self._table:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table:
            self._cell = []
        elif tag == "div" and a.get("id") == "verdict":
            self._in_verdict = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "table":
            self._table = None
        elif tag in ("td", "th") and self._table and self._cell is not None:
            self.tables[self._table][-1].append("".join(self._cell))
            self._cell = None
        elif tag == "div":
            self._in_verdict = False

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        elif self._in_verdict:
            self.verdict += data


def _report(journal: Path, *options: str) -> tuple[int, str]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["report", str(journal), *options])
    return code, out.getvalue()


def _by_participant_sql(journal: Path) -> dict[str, tuple[int, int, int, int]]:
    """(bought Wh, sold Wh, paid wei, received wei) from the trade table: energy × price of
    every trade marked settled (the report sums the chain's settled amounts)."""
    db = sqlite3.connect(journal)
    out: dict[str, list[int]] = {}
    for buyer, seller, energy, price in db.execute(
        "SELECT buyer, seller, energy_wh, price_wei_per_wh FROM trade WHERE status='settled'"
    ):
        b, s = out.setdefault(buyer, [0, 0, 0, 0]), out.setdefault(seller, [0, 0, 0, 0])
        b[0] += energy
        b[2] += energy * price
        s[1] += energy
        s[3] += energy * price
    db.close()
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


def _labc(wei: int) -> str:
    return str((Decimal(wei) / Decimal(10**6)).quantize(Decimal("0.000001")))


@dataclass(frozen=True)
class Handover:
    html: Path
    csv: Path
    code: int
    printed: str


@pytest.fixture(scope="module")
def handover(honest_run: HonestRun, tmp_path_factory: pytest.TempPathFactory) -> Handover:
    """The honest run's HTML report and CSV tables, written once by one command."""
    folder = tmp_path_factory.mktemp("handover")
    html, tables = folder / "report.html", folder / "csv"
    code, printed = _report(honest_run.journal, "--html", str(html), "--csv", str(tables))
    return Handover(html, tables, code, printed)


def test_html_report_shows_the_journals_totals_prices_and_verdict(
    honest_run: HonestRun, handover: Handover
) -> None:
    out, code, printed = handover.html, handover.code, handover.printed
    assert code == 0, printed
    assert "verdict: PASS" in printed
    page = _Tables()
    page.feed(out.read_text())
    assert page.verdict.startswith("PASS: 3 of 3 intervals settled")
    fetched = re.findall(r"""(?:src|href)=["']?(?!data:|#)[a-z]+:""", out.read_text())
    assert not fetched and "@import" not in out.read_text(), "the report fetches nothing"

    expected = _by_participant_sql(honest_run.journal)
    assert expected, "the honest run settled trades"
    header, *rows = page.tables["participants"]
    col = {h: i for i, h in enumerate(header)}
    shown = {r[0]: r for r in rows}
    for name, (bought, sold, paid, received) in expected.items():
        row = shown[name]
        assert int(row[col["bought (Wh)"]]) == bought
        assert int(row[col["sold (Wh)"]]) == sold
        assert row[col["paid (LABC)"]] == _labc(paid)
        assert row[col["received (LABC)"]] == _labc(received)
        assert row[col["net (LABC)"]] == _labc(received - paid)

    db = sqlite3.connect(honest_run.journal)
    metered = dict(
        (p, (i, e))
        for p, i, e in db.execute(
            "SELECT participant, SUM(import_wh), SUM(export_wh) FROM metered GROUP BY participant"
        )
    )
    prices = dict(db.execute("SELECT interval_id, price_wei_per_wh FROM clearing"))
    db.close()
    for name, (imported, exported) in metered.items():
        assert float(shown[name][col["metered import (Wh)"]]) == pytest.approx(imported, abs=0.05)
        assert float(shown[name][col["metered export (Wh)"]]) == pytest.approx(exported, abs=0.05)

    header, *rows = page.tables["intervals"]
    col = {h: i for i, h in enumerate(header)}
    assert [int(r[0]) for r in rows] == sorted(prices)
    for r in rows:
        price = prices[int(r[0])]
        assert Decimal(r[col["price (LABC/kWh)"]]) == Decimal(price) / 1000, "LABC/kWh for people"
        assert r[col["price_wei_per_wh"]] == str(price)

    text = out.read_text()
    for plot in ("power", "curves", "prices", "balance", "findings", "participants"):
        assert f'id="plot-{plot}"><h3>' in text
        assert text.split(f'id="plot-{plot}"')[1].split("</figure>")[0].count("<path") > 2
    assert 'id="config"' in text and "[[participants]]" in text


def test_csv_tables_match_the_html_and_keep_exact_wei(
    honest_run: HonestRun, handover: Handover
) -> None:
    html, folder = handover.html, handover.csv
    assert handover.code == 0 and f"7 CSV tables in {folder}" in handover.printed
    names = sorted(p.stem for p in folder.glob("*.csv"))
    assert names == sorted(
        ["summary", "findings", "checks", "participants", "intervals", "trades", "meters"]
    )
    page = _Tables()
    page.feed(html.read_text())
    for name in names:
        with (folder / f"{name}.csv").open() as f:
            assert list(csv.reader(f)) == page.tables[name], name
    with (folder / "trades.csv").open() as f:
        trades = list(csv.DictReader(f))
    db = sqlite3.connect(honest_run.journal)
    amounts = sorted(
        (int(i), b, s, int(e), int(v))
        for i, b, s, e, v in db.execute(
            "SELECT interval_id, buyer, seller, energy_wh, value_wei FROM amount"
        )
    )
    db.close()
    settled = sorted(
        (int(t["interval"]), t["buyer"], t["seller"], int(t["energy (Wh)"]), int(t["value_wei"]))
        for t in trades
        if t["status"] == "settled"
    )
    assert settled == amounts


def test_a_tampered_journal_reports_fail_with_its_findings_first(
    journal: Path, tmp_path: Path
) -> None:
    edit(journal, "UPDATE amount SET value_wei = CAST(value_wei AS INTEGER) + 7 WHERE rowid = 1")
    out = tmp_path / "bad.html"
    code, printed = _report(journal, "--html", str(out))
    assert code == 1 and "verdict: FAIL" in printed
    text = out.read_text()
    page = _Tables()
    page.feed(text)
    findings = page.tables["findings"][1:]
    assert page.verdict.startswith(f"FAIL: {len(findings)} findings: interval {findings[0][0]}: ")
    assert findings[0][2] in page.verdict, "the verdict names the first finding"
    # findings come before every other table, right under the verdict
    assert text.index('id="findings"') < text.index('id="summary"') < text.index('id="plot-')
    kinds = {row[2] for row in findings}
    assert {"digest_mismatch", "settled_total_mismatch"} <= kinds
    checks = {row[0]: row[1] for row in page.tables["checks"][1:]}
    assert checks["settled_amounts"] == "FAIL" and checks["completeness"] == "pass"


def test_pdf_report_has_a_page_per_plot_and_table(honest_run: HonestRun, tmp_path: Path) -> None:
    out = tmp_path / "report.pdf"
    code, _ = _report(honest_run.journal, "--pdf", str(out))
    assert code == 0
    data = out.read_bytes()
    assert data.startswith(b"%PDF-") and data.rstrip().endswith(b"%%EOF")
    db = sqlite3.connect(honest_run.journal)
    ((intervals,),) = db.execute("SELECT COUNT(*) FROM clearing").fetchall()
    ((trades,),) = db.execute("SELECT COUNT(*) FROM trade").fetchall()
    ((config,),) = db.execute("SELECT value FROM run WHERE key = 'config_text'").fetchall()
    db.close()
    lines = len(json.loads(config).splitlines())
    # the first page, 6 plots and the curves of every interval (48 a page), then checks,
    # intervals, trades, meters (28 rows a page) and the config (60 lines a page); no
    # findings page for a clean run
    curves = -(-intervals // 48)
    expected = 1 + 6 + curves + 1 + -(-intervals // 28) + -(-trades // 28) + 1 + -(-lines // 60)
    assert len(re.findall(rb"/Type\s*/Page(?![a-z])", data)) == expected


def test_every_intervals_curves_and_clearing_point_are_drawn(honest_run: HonestRun) -> None:
    db = sqlite3.connect(honest_run.journal)
    cleared = {
        i: (v, p)
        for i, v, p in db.execute("SELECT interval_id, volume_wh, price_wei_per_wh FROM clearing")
    }
    db.close()
    data = load_run(honest_run.journal)
    (grid,) = [p for p in report_plots(data) if p.name.startswith("curves-")]
    assert grid.name == f"curves-1-{len(cleared)}"
    axes = [ax for ax in grid.figure.axes if ax.get_visible() and ax.get_title()]
    assert sorted(int(ax.get_title()) for ax in axes) == sorted(cleared)
    for ax in axes:
        volume_wh, price = cleared[int(ax.get_title())]
        (dot,) = [line for line in ax.get_lines() if line.get_marker() == "o"]
        assert (dot.get_xdata()[0], dot.get_ydata()[0]) == (volume_wh, price / 1000)
        assert len(ax.patches) == 2, "a demand and a supply step curve"
    # 51 intervals: one figure of 48, one of 3 (the other 45 cells of the second hidden)
    many = replace(data, intervals=tuple(data.intervals) * 17)
    grids = curves_grids(many)
    visible = [sum(ax.get_visible() for ax in g.figure.axes) for g in grids]
    assert visible == [48, 3 * 17 - 48]


def test_units_are_exact_against_decimal() -> None:
    for wei in (0, 1, 999_999, 1_000_000, 1_234_567, -5, -1_000_001, 10**24 + 3):
        assert labc(wei) == _labc(wei)
    for price in (0, 1, 85, 1000, 123_456, -40):
        assert labc_per_kwh(price) == str((Decimal(price) / 1000).quantize(Decimal("0.001")))
    assert labc_per_kwh(None) == "-"


def test_meter_colours_depend_on_the_id_only() -> None:
    ids = ["roof", "barn", "flat", "feeder", "shop", "clinic", "ev", "battery"]
    first = meter_colors(ids)
    assert meter_colors(list(reversed(ids))) == first
    assert meter_colors(ids[:3])["roof"] == first["roof"] == meter_color("roof")
    assert len(set(first.values())) == len(ids), "no two curves of a view share a colour"


def test_a_pdf_table_wider_than_the_page_is_set_smaller_until_it_fits() -> None:
    """The intervals table's 14 readable columns at 7 pt overran an A4 page (its last
    column cut off); the type shrinks until the table fits (the mutation: a fixed 7 pt).
    The oracle: the table's drawn extent against its axes', as Agg renders them."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from bench.report.html_pdf import _draw_table, _page

    headers = [
        *("interval", "bid (Wh)", "offered (Wh)", "cleared (Wh)", "price (LABC/kWh)"),
        *("instantaneous (LABC/kWh)", "settled", "rejected", "value (LABC)"),
        *("unexplained (Wh)", "battery SoC (Wh)", "grid import (Wh)", "grid export (Wh)"),
        "settled by",
    ]
    row = ["12", *["123456.7"] * 12, "a resume (found on chain)"]
    fig = _page("wide")
    _draw_table(fig, headers, [row], top=0.88, height=0.84)
    renderer = FigureCanvasAgg(fig).get_renderer()
    (ax,) = fig.axes
    (table,) = ax.tables
    assert table.get_window_extent(renderer).width <= ax.get_window_extent(renderer).width
    # a table that fits keeps the 7 pt type
    fig = _page("narrow")
    _draw_table(fig, ["a", "b"], [["1", "2"]], top=0.88, height=0.84)
    (cell,) = [c for (r, col), c in fig.axes[0].tables[0].get_celld().items() if (r, col) == (0, 0)]
    assert cell.get_text().get_fontsize() == 7.0
