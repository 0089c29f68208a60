"""A bad bench config exits 2 naming the key and the fix, before anything starts.

Each case goes through the real ``gridbench`` entry point (``run``, ``demo`` and
``config check``) while process starts, pseudo-terminals and the scenario's worker are
watched: none may happen.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Callable
from pathlib import Path

import pytest

from bench.config import load_scenario, parse_scenario
from bench.config.reference import resolved_toml
from bench.fixtures import demo_config
from gridbench.cli import main
from tests.config.conftest import edit

CASES = [
    pytest.param(
        ('mechanism = "pay_as_clear"', 'mechanizm = "pay_as_bid"'),
        "unknown key 'mechanizm' in [market]; did you mean 'mechanism'?",
        id="unknown-key",
    ),
    pytest.param(
        ("[market]", "[markett]"),
        "unknown table [markett] in the bench config; did you mean 'market'?",
        id="unknown-table",
    ),
    pytest.param(
        ("intervals = 24 ", 'intervals = "24" '),
        "[scenario] intervals must be a number (got '24'); write 24 without quotes",
        id="wrong-type",
    ),
    pytest.param(
        ("tax_rate = 0.05", "tax_rate = nan"),
        "[market] tax_rate must be a finite number (got nan)",
        id="nan",
    ),
    pytest.param(
        ("storage_power_w = 10000", "storage_power_w = inf"),
        "[market] storage_power_w must be a finite number (got inf)",
        id="inf",
    ),
    pytest.param(
        ("tax_rate = 0.05", "tax_rate = 1.5"),
        "[market] tax_rate must be a fraction in [0, 1) (got 1.5)",
        id="bad-market-value",
    ),
    pytest.param(
        ("network_charge_wei_per_wh = 20", "network_charge_wei_per_wh = -20"),
        "[market] network_charge_wei_per_wh must be in [0, 1e9] wei/Wh (got -20)",
        id="negative",
    ),
    pytest.param(
        ("deposit_wei = 50000000 ", "deposit_wei = 9000000000000000000 "),
        "[chain] deposit_wei must be in [1, 1e18] wei (got 9000000000000000000)",
        id="huge",
    ),
    pytest.param(
        ("market_interval_s = 900 ", "interval_s = 900 "),
        "[scenario]: 'interval_s' was renamed; write 'market_interval_s' instead",
        id="renamed-key",
    ),
    pytest.param(
        ("market_interval_s = 900 ", "market_interval_s = 2 "),
        "speed 900 ([scenario] speed or --speed) is too fast for market_interval_s 2 s",
        id="speed-vs-interval",
    ),
]


@pytest.fixture
def nothing_starts(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Record every process start, pty and scenario worker start."""
    started: list[str] = []
    real_popen = subprocess.Popen.__init__

    def popen(self: subprocess.Popen[bytes], args: object, *a: object, **kw: object) -> None:
        started.append(f"process {args!r}")
        real_popen(self, args, *a, **kw)  # type: ignore[arg-type]

    real_openpty = os.openpty

    def openpty() -> tuple[int, int]:
        started.append("pty")
        return real_openpty()

    from bench.scenario.worker import ScenarioWorker

    monkeypatch.setattr(subprocess.Popen, "__init__", popen)
    monkeypatch.setattr(os, "openpty", openpty)
    monkeypatch.setattr(ScenarioWorker, "start", lambda self: started.append("runner"))
    return started


@pytest.mark.parametrize(("change", "message"), CASES)
@pytest.mark.parametrize("command", ["run", "demo", "config"])
def test_bad_config_exits_2_naming_the_key_before_anything_starts(
    change: tuple[str, str],
    message: str,
    command: str,
    demo_text: str,
    write_config: Callable[[str], Path],
    nothing_starts: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    path = write_config(edit(demo_text, *change))
    argv = {
        "run": ["run", "--config", str(path), "--journal", str(tmp_path)],
        "demo": ["demo", "--headless", "--config", str(path), "--journal", str(tmp_path)],
        "config": ["config", "check", str(path)],
    }[command]
    assert main(argv) == 2
    captured = capsys.readouterr()
    assert captured.err.startswith("gridbench: error: ")
    assert message in captured.err
    assert captured.out == ""
    assert nothing_starts == []
    assert not list(tmp_path.glob("*/journal.sqlite"))


@pytest.mark.parametrize(
    ("option", "message"),
    [
        (["--speed", "1e7"], "--speed must be in (0, 100000] (got 10000000.0)"),
        (["--speed", "nan"], "--speed must be a finite number (got nan)"),
        (["--speed", "-1"], "--speed must be in (0, 100000] (got -1.0)"),
        (["--intervals", "0"], "--intervals must be in [1, 100000] (got 0)"),
    ],
)
def test_bad_command_line_overrides_are_config_errors(
    option: list[str],
    message: str,
    nothing_starts: list[str],
    capsys: pytest.CaptureFixture[str],
    tmp_path: Path,
) -> None:
    argv = ["run", "--config", str(demo_config()), "--journal", str(tmp_path), *option]
    assert main(argv) == 2
    assert message in capsys.readouterr().err
    assert nothing_starts == []


def test_an_override_too_fast_for_the_interval_names_speed(
    write_config: Callable[[str], Path], demo_text: str
) -> None:
    from bench.errors import ConfigError

    path = write_config(edit(demo_text, "market_interval_s = 900 ", "market_interval_s = 300 "))
    load_scenario(path, speed=3_000)  # 100 ms of real time per interval: the least
    with pytest.raises(ConfigError, match=r"speed 3100 .* 96.8 ms .* use speed at most 3000 "):
        load_scenario(path, speed=3_100)


def test_several_errors_are_listed_together(
    demo_text: str, write_config: Callable[[str], Path], capsys: pytest.CaptureFixture[str]
) -> None:
    text = edit(demo_text, "tax_rate = 0.05", "tax_rate = -1")
    text = edit(text, "speed = 900 ", "sped = 900 ")
    path = write_config(text)
    assert main(["config", "check", str(path)]) == 2
    err = capsys.readouterr().err
    assert f"bench config {path} has 2 errors:" in err
    assert "unknown key 'sped' in [scenario]; did you mean 'speed'?" in err
    assert "[market] tax_rate must be a fraction in [0, 1) (got -1)" in err


def test_the_exit_status_of_the_installed_command_is_2(
    demo_text: str, write_config: Callable[[str], Path]
) -> None:
    path = write_config(edit(demo_text, "tax_rate = 0.05", "tax_rate = 1.5"))
    proc = subprocess.run(
        [sys.executable, "-m", "gridbench", "run", "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2
    assert "tax_rate must be a fraction in [0, 1) (got 1.5)" in proc.stderr
    assert "Traceback" not in proc.stderr and "internal error" not in proc.stderr


def test_config_check_prints_the_resolved_config_that_reads_back_the_same(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["config", "check", str(demo_config())]) == 0
    out = capsys.readouterr().out
    resolved = tomllib.loads(out)
    # defaults the demo leaves out are filled in
    assert resolved["bench"]["reset_wait_s"] == 2.0
    assert resolved["participants"][0]["bid_price_wei_per_wh"] == 300
    assert resolved["meters"][0]["faults"]["drop_rate"] == 0.0
    # the values the demo sets are kept
    assert resolved["scenario"]["market_interval_s"] == 900.0
    assert resolved["market"]["tax_rate"] == 0.05
    assert [m["id"] for m in resolved["meters"]][-1] == "ev-point"
    again = parse_scenario(resolved, source=demo_config())
    assert again == load_scenario(demo_config())
    assert resolved_toml(again) == out.rstrip("\n") + "\n"


def test_the_watch_sees_a_valid_run_start(
    nothing_starts: list[str], capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Control: the same watch records a pty, a process and the worker when they happen."""
    from bench.emulator import EmulatedMeter, MeterFarm

    with MeterFarm([EmulatedMeter("control")]):
        pass
    subprocess.run(["true"], check=True)
    main(["run", "--config", str(demo_config()), "--journal", str(tmp_path)])
    assert nothing_starts == ["pty", "process ['true']", "runner"]
