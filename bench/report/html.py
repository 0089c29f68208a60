"""``gridbench report RUN --html OUT``: one self-contained HTML file to hand over.

The verdict first (with the audit's findings), then the key figures, per-participant
totals, the plots (inline SVG), every table (each with its CSV embedded as a download
link), the config the run recorded and its provenance. Nothing is fetched: the file
opens offline in any browser.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from bench.report.html_plots import Plot, report_plots
from bench.report.html_tables import Table, report_tables
from bench.report.run_data import RunData

_STYLE = """
body { font-family: "DejaVu Sans", Helvetica, Arial, sans-serif; margin: 2em auto;
       max-width: 1100px; color: #222; line-height: 1.35; padding: 0 1em; }
h1 { font-size: 1.6em; margin-bottom: 0.2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2em; margin-top: 1.6em; }
.verdict { padding: 0.8em 1em; border-radius: 6px; font-size: 1.1em; font-weight: bold; }
.pass { background: #e6f4ea; border: 1px solid #2ca02c; color: #1b5e20; }
.fail { background: #fdecea; border: 1px solid #d62728; color: #8b1a1a; }
table { border-collapse: collapse; margin: 0.6em 0; font-size: 0.86em; }
th, td { border: 1px solid #ddd; padding: 0.25em 0.55em; text-align: right; }
th { background: #f3f3f3; }
td.text, th.text { text-align: left; }
tr:nth-child(even) td { background: #fafafa; }
.scroll { max-height: 28em; overflow: auto; }
figure { margin: 1em 0; }
figure svg { width: 100%; height: auto; }
figcaption { color: #555; font-size: 0.9em; }
pre { background: #f6f6f6; padding: 0.8em; overflow: auto; font-size: 0.85em; }
a.csv { font-size: 0.8em; margin-left: 0.6em; }
"""

_TEXT_COLUMNS = {
    "participant",
    "buyer",
    "seller",
    "status",
    "transaction",
    "message",
    "kind",
    "check",
    "meter",
    "figure",
    "value",
    "attestation",
    "signer",
    "first finding",
    "result",
}


def _table(table: Table, scroll: bool = False) -> str:
    cls = {h: ' class="text"' if h in _TEXT_COLUMNS else "" for h in table.headers}
    head = "".join(f"<th{cls[h]}>{escape(h)}</th>" for h in table.headers)
    body = "".join(
        "<tr>"
        + "".join(
            f"<td{cls[h]}>{escape(cell)}</td>" for h, cell in zip(table.headers, row, strict=True)
        )
        + "</tr>"
        for row in table.rows
    )
    csv_link = base64.b64encode(table.csv_text().encode()).decode()
    link = (
        f'<a class="csv" download="{table.name}.csv" href="data:text/csv;base64,{csv_link}">CSV</a>'
    )
    inner = f'<table id="{table.name}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
    if scroll:
        inner = f'<div class="scroll">{inner}</div>'
    return f"<h2>{escape(table.title)}{link}</h2>\n{inner}\n"


def _figure(plot: Plot) -> str:
    return (
        f'<figure id="plot-{plot.name}"><h3>{escape(plot.title)}</h3>{plot.svg()}'
        f"<figcaption>{escape(plot.caption)}</figcaption></figure>\n"
    )


def render_html(data: RunData) -> str:
    """The whole report as one HTML document."""
    tables = {t.name: t for t in report_tables(data)}
    verdict = data.verdict
    passed = data.report.clean
    parts = [
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>",
        f"<title>gridbench report — {escape(data.name)}</title>",
        f"<style>{_STYLE}</style></head><body>",
        f"<h1>gridbench run report — {escape(data.name)}</h1>",
        f"<p>journal <code>{escape(str(data.journal))}</code>; config "
        f"<code>{escape(data.config_name)}</code>. Prices in LABC/kWh, amounts in LABC "
        "(1 LABC = 10⁶ wei; the CSV files keep the exact wei beside them).</p>",
        f'<div id="verdict" class="verdict {"pass" if passed else "fail"}">{escape(verdict)}</div>',
    ]
    if not passed:
        parts.append(_table(tables["findings"], scroll=True))
    parts.append(_table(tables["summary"]))
    parts.append(_table(tables["checks"]))
    parts.append(_table(tables["participants"]))
    parts.append("<h2>Plots</h2>\n")
    parts.extend(_figure(p) for p in report_plots(data))
    parts.append(_table(tables["intervals"], scroll=True))
    parts.append(_table(tables["trades"], scroll=True))
    parts.append(_table(tables["meters"]))
    if passed:
        parts.append(_table(tables["findings"]))
    overrides = ", ".join(f"{k} = {v!r}" for k, v in data.overrides.items()) or "none"
    parts.append(
        f"<h2>Config</h2>\n<p>overrides: <code>{escape(overrides)}</code></p>\n"
        f'<pre id="config">{escape(data.config_text or "(no config text recorded)")}</pre>\n'
    )
    provenance = "".join(
        f"<tr><td class='text'>{escape(k)}</td><td class='text'><code>{escape(v or '-')}"
        "</code></td></tr>"
        for k, v in data.provenance.items()
    )
    parts.append(f"<h2>Provenance</h2>\n<table id='provenance'>{provenance}</table>\n")
    parts.append("</body></html>\n")
    return "".join(parts)


def write_html(data: RunData, out: Path | str) -> Path:
    """Write the report to ``out`` (its folder is made); return the path."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render_html(data), encoding="utf-8")
    return out
