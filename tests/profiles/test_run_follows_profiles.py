"""A real run (emulated meters on ptys, Anvil, the audit): the meters' energy per interval
is the generated profiles' integral over the interval's simulated time."""

from __future__ import annotations

import contextlib
import io
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from bench.config import load_scenario
from bench.profiles import meter_days
from gridbench.cli import main

CONFIG = Path(__file__).with_name("pv_run.toml")


@pytest.mark.slow
@pytest.mark.chain
def test_a_run_meters_the_generated_pv_and_loads(tmp_path: Path) -> None:
    config_path = tmp_path / "bench.toml"
    shutil.copyfile(CONFIG, config_path)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["run", "--config", str(config_path), "--journal", str(tmp_path / "runs")])
    (journal,) = (tmp_path / "runs").glob("*/journal.sqlite")
    # the verdict is the audit's business (its own tests); a loaded machine may flag a cut
    assert code in (0, 1), out.getvalue()
    print(out.getvalue())
    bench = load_scenario(config_path).bench
    with sqlite3.connect(f"file:{journal}?mode=ro", uri=True) as db:
        ends = [e for (e,) in db.execute("SELECT end_sim_time_s FROM settlement ORDER BY 1")]
        rows = db.execute("SELECT participant, interval_id, import_wh - export_wh FROM metered")
        metered = {(p, i): wh for p, i, wh in rows}
    db.close()
    assert len(ends) == 4
    for meter in ("roof", "hostel", "homes"):
        days = meter_days(bench, meter)
        assert days is not None
        for i, end_s in enumerate(ends, start=1):
            t = np.linspace(end_s - 900, end_s, 901)
            day = int(end_s // 86_400)
            ts, ps = days.day(day)
            model_wh = np.trapezoid(np.interp(t - day * 86_400, ts, ps), t) / 3600
            # the cut at each boundary is uncertain by a reading's timing (ms at speed 900)
            assert metered[(meter, i)] == pytest.approx(model_wh, rel=0.015, abs=20), (meter, i)
    assert metered[("roof", 1)] < -2000  # 20 kWp around noon in May: it exports
