"""``gridbench report RUN --pdf OUT``: the HTML report's content as an A4 PDF.

Drawn with matplotlib's PDF backend (vector, fonts embedded, no browser needed), every
page A4 landscape: a first page with the verdict, the findings and the key figures, one
page per plot, then the tables (split across pages) and the config text.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from pathlib import Path

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.backends.backend_pdf import PdfPages
from matplotlib.figure import Figure

from bench.report.html_plots import report_plots
from bench.report.html_tables import Table, report_tables
from bench.report.run_data import RunData

A4_LANDSCAPE_IN = (11.69, 8.27)
ROWS_PER_PAGE = 28
CONFIG_LINES_PER_PAGE = 60


def _page(title: str) -> Figure:
    fig = Figure(figsize=A4_LANDSCAPE_IN)
    fig.text(0.04, 0.95, title, fontsize=15, weight="bold", va="top")
    return fig


def _readable(table: Table) -> tuple[tuple[str, ...], list[tuple[str, ...]]]:
    """The columns a person reads (the exact ``*_wei*`` copies stay in the CSV)."""
    keep = [i for i, h in enumerate(table.headers) if "_wei" not in h]
    headers = tuple(table.headers[i] for i in keep)
    rows = [tuple(_clip(row[i]) for i in keep) for row in table.rows]
    return headers, rows


def _clip(cell: str, width: int = 70) -> str:
    return cell if len(cell) <= width else cell[: width - 1] + "…"


def _draw_table(
    fig: Figure, headers: Sequence[str], rows: Sequence[Sequence[str]], top: float, height: float
) -> None:
    ax = fig.add_axes((0.04, top - height, 0.92, height))
    ax.axis("off")
    if not rows:
        ax.text(0, 1, "(none)", va="top", fontsize=9)
        return
    table = ax.table(cellText=[list(r) for r in rows], colLabels=list(headers), loc="upper left")
    table.auto_set_font_size(False)
    table.auto_set_column_width(list(range(len(headers))))
    for (row, _), cell in table.get_celld().items():
        cell.set_height(min(0.9 / (len(rows) + 1), 0.06))
        if row == 0:
            cell.set_facecolor("#eeeeee")
    # the columns are as wide as their text: smaller type (down to 4 pt) until the table
    # fits the page
    renderer = FigureCanvasAgg(fig).get_renderer()
    width_px = ax.get_window_extent(renderer).width
    size = 7.0
    table.set_fontsize(size)
    for _ in range(4):
        over = table.get_window_extent(renderer).width / width_px
        if over <= 1.0 or size == 4.0:
            return
        size = max(4.0, round(size / over - 0.05, 1))
        table.set_fontsize(size)


def _first_page(data: RunData, tables: dict[str, Table]) -> Figure:
    fig = _page(f"gridbench run report — {data.name}")
    passed = data.report.clean
    fig.text(
        0.04,
        0.89,
        "\n".join(textwrap.wrap(data.verdict, 105)),
        fontsize=11,
        weight="bold",
        va="top",
        color="#1b5e20" if passed else "#8b1a1a",
        bbox={"fc": "#e6f4ea" if passed else "#fdecea", "ec": "none", "pad": 6},
    )
    findings = data.report.audit.findings
    lines = [
        f"{'run' if f.interval_id == 0 else f'interval {f.interval_id}'}: {f.kind}: {f.message}"
        for f in findings[:8]
    ]
    if len(findings) > 8:
        lines.append(f"… and {len(findings) - 8} more (see the findings table)")
    text = "\n".join(_clip(line, 150) for line in lines) if lines else "No audit findings."
    fig.text(0.04, 0.80, "Audit findings first:\n" + text, fontsize=8, va="top", family="monospace")
    summary = tables["summary"]
    _draw_table(fig, *_readable(summary), top=0.60, height=0.27)
    participants = tables["participants"]
    fig.text(0.04, 0.31, "Per-participant totals (LABC, Wh)", fontsize=10, weight="bold")
    _draw_table(fig, *_readable(participants), top=0.29, height=0.25)
    fig.text(
        0.04,
        0.015,
        f"journal {data.journal} · prices in LABC/kWh, amounts in LABC (1 LABC = 10⁶ wei)",
        fontsize=7,
        color="#555555",
    )
    return fig


def _table_pages(table: Table) -> list[Figure]:
    headers, rows = _readable(table)
    pages = []
    chunks = [rows[i : i + ROWS_PER_PAGE] for i in range(0, len(rows), ROWS_PER_PAGE)] or [[]]
    for n, chunk in enumerate(chunks, 1):
        more = f" (page {n} of {len(chunks)})" if len(chunks) > 1 else ""
        fig = _page(table.title + more)
        _draw_table(fig, headers, chunk, top=0.88, height=0.84)
        pages.append(fig)
    return pages


def _config_pages(data: RunData) -> list[Figure]:
    lines = (data.config_text or "(no config text recorded)").splitlines()
    overrides = ", ".join(f"{k} = {v!r}" for k, v in data.overrides.items()) or "none"
    pages = []
    for start in range(0, max(len(lines), 1), CONFIG_LINES_PER_PAGE):
        fig = _page("Config" + (" (continued)" if start else f" — overrides: {overrides}"))
        chunk = "\n".join(_clip(line, 140) for line in lines[start : start + CONFIG_LINES_PER_PAGE])
        fig.text(0.04, 0.89, chunk, fontsize=7, va="top", family="monospace")
        pages.append(fig)
    provenance = "\n".join(f"{k}: {v or '-'}" for k, v in data.provenance.items())
    pages[-1].text(0.55, 0.89, "Provenance\n" + provenance, fontsize=7, va="top")
    return pages


def write_pdf(data: RunData, out: Path | str) -> Path:
    """Write the report as a PDF to ``out``; return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tables = {t.name: t for t in report_tables(data)}
    pages = [_first_page(data, tables)]
    for plot in report_plots(data):
        fig = plot.figure
        fig.set_size_inches(*A4_LANDSCAPE_IN)  # every page A4 landscape
        fig.suptitle(plot.title, fontsize=12, weight="bold")
        pages.append(fig)
    for name in ("findings", "checks", "intervals", "trades", "meters"):
        if name != "findings" or tables[name].rows:
            pages.extend(_table_pages(tables[name]))
    pages.extend(_config_pages(data))
    with PdfPages(out, metadata={"Title": f"gridbench run report {data.name}"}) as pdf:
        for fig in pages:
            pdf.savefig(fig)
    return out
