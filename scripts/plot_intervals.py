"""Plot a run's price, volume and battery state of charge per interval (from
``gridbench report --json``): ``python scripts/plot_intervals.py JOURNAL OUT.png``."""

from __future__ import annotations

import json
import subprocess
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main(journal: str, out: str) -> None:
    """Write the three-panel figure for ``journal`` to ``out``."""
    text = subprocess.run(
        [sys.executable, "-m", "gridbench", "report", journal, "--json"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    rows = json.loads(text)["intervals"]
    n = [r["interval"] for r in rows]
    fig, (price, volume, soc) = plt.subplots(3, 1, figsize=(9, 8), sharex=True)
    price.step(n, [r["cleared_price_wei_per_wh"] for r in rows], where="mid", label="cleared")
    price.plot(n, [r["instantaneous_price_wei_per_wh"] for r in rows], "o-", label="instantaneous")
    price.set_ylabel("wei/Wh")
    price.legend()
    volume.bar(n, [r["volume_wh"] for r in rows], label="volume", color="tab:gray")
    volume.plot(n, [r["grid_import_wh"] for r in rows], "r.-", label="feeder import")
    volume.plot(n, [r["grid_export_wh"] for r in rows], "g.-", label="feeder export")
    volume.set_ylabel("Wh")
    volume.legend()
    soc.plot(n, [r["soc_wh"] for r in rows], "b.-")
    soc.set_ylabel("battery SoC (Wh)")
    soc.set_xlabel("interval")
    fig.tight_layout()
    fig.savefig(out, dpi=90)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
