"""Theft sensitivity and false alarms of the audit, measured on real runs.

Runs a bench config (default the demo) ``--honest`` times as it is and ``--tap`` times
with ``unmetered_load_w`` set to ``--tap-w``, each with ``gridbench run`` in a
subprocess, optionally beside a CPU hog (``--hog``: one busy Python process the script
starts and stops), then replays each journal with ``gridbench report --json`` and prints,
per run, the exit code, the CUSUM's peak and threshold, the interval it alarmed at, the
largest per-interval unexplained energy and the findings; and the counts::

    python scripts/verdict_runs.py --honest 20 --tap 5 --hog
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
_GRIDBENCH = (sys.executable, "-m", "gridbench")
_FINDING = re.compile(r"^(?:interval (\d+)|[^:]+): (\w+):")


def _config_with_tap(source: Path, tap_w: float, folder: Path) -> Path:
    text = source.read_text()
    line = f"unmetered_load_w = {tap_w}"
    text, n = re.subn(r"(?m)^unmetered_load_w\s*=.*$", line, text)
    if n == 0:
        text = text.replace("[scenario]\n", f"[scenario]\n{line}\n", 1)
    path = folder / f"{source.stem}-tap{tap_w:g}.toml"
    path.write_text(text)
    return path


def _one(config: Path, runs: Path) -> dict[str, object]:
    run = subprocess.run(
        [*_GRIDBENCH, "run", "--config", str(config), "--journal", str(runs), "--json", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    try:
        summary = json.loads(run.stdout)
    except json.JSONDecodeError:
        return {"run_exit": run.returncode, "error": run.stderr.strip()[-300:]}
    report = json.loads(
        subprocess.run(
            [*_GRIDBENCH, "report", summary["journal_path"], "--json"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout
    )
    rows = report["intervals"]
    unexplained = [r["unexplained_wh"] for r in rows if r["unexplained_wh"] is not None]
    # each finding reads "interval N: kind: ..." (or "run: kind: ...")
    parsed = [_FINDING.match(f) for f in report["findings"]]
    kinds = Counter(m.group(2) if m else "?" for m in parsed)
    alarm = [int(m.group(1)) for m in parsed if m and m.group(2) == "cumulative_theft"]
    return {
        "run_exit": run.returncode,
        "cusum_peak_wh": round(report["cusum_peak_wh"] or 0.0, 1),
        "cusum_threshold_wh": round(report["cusum_threshold_wh"] or 0.0, 1),
        "alarm_interval": alarm[0] if alarm else None,
        "max_abs_unexplained_wh": round(max((abs(u) for u in unexplained), default=0.0), 1),
        "mean_unexplained_wh": round(sum(unexplained) / max(1, len(unexplained)), 2),
        "findings": dict(kinds),
        "run_findings": [str(f)[:160] for f in summary.get("findings", [])],
        "journal": summary["journal_path"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", type=Path, default=ROOT / "fixtures" / "demo.toml")
    parser.add_argument("--honest", type=int, default=20)
    parser.add_argument("--tap", type=int, default=5)
    parser.add_argument("--tap-w", type=float, default=100.0)
    parser.add_argument("--runs", type=Path, help="where to keep the configs and journals")
    parser.add_argument("--hog", action="store_true", help="run a CPU hog beside the runs")
    args = parser.parse_args()
    hog = subprocess.Popen([sys.executable, "-c", "while True: pass"]) if args.hog else None
    try:
        folder = args.runs or Path(tempfile.mkdtemp(prefix="verdict-runs-"))
        folder.mkdir(parents=True, exist_ok=True)
        print(f"configs and journals in {folder}", flush=True)
        honest = _config_with_tap(args.config, 0.0, folder)
        tapped = _config_with_tap(args.config, args.tap_w, folder)
        counts: dict[str, list[dict[str, object]]] = {"honest": [], "tap": []}
        plan = [("honest", honest)] * args.honest + [("tap", tapped)] * args.tap
        for n, (label, config) in enumerate(plan, 1):
            result = _one(config, folder / "runs")
            counts[label].append(result)
            load = Path("/proc/loadavg").read_text().split()[0]
            print(f"{n:3d} {label:6s} load {load:>5s} {json.dumps(result)}", flush=True)
    finally:
        if hog is not None:
            hog.kill()
            hog.wait()
    false_alarms = sum(1 for r in counts["honest"] if r.get("run_exit") != 0)
    found = [r["alarm_interval"] for r in counts["tap"] if r.get("alarm_interval") is not None]
    print(f"honest runs: {len(counts['honest'])}, not passing (exit != 0): {false_alarms}")
    print(
        f"{args.tap_w:g} W tap runs: {len(counts['tap'])}, CUSUM alarm in {len(found)} "
        f"(at intervals {found})"
    )


if __name__ == "__main__":
    main()
