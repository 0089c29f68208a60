"""The entry layer: --help and --version are fast, headless commands never load the GUI."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from bench.fixtures import demo_config
from gridbench import __version__
from gridbench.cli import COMMANDS, main

HEAVY = ("web3", "eth_account", "numpy", "scipy", "PyQt6", "pyqtgraph", "serial", "gui")
_MODULES_AFTER = """
import json, sys
from gridbench.cli import main
try:
    main({argv!r})
except SystemExit:
    pass
print(json.dumps(sorted(sys.modules)), file=sys.stderr)
"""


def modules_after(argv: list[str]) -> set[str]:
    """Top-level packages imported by ``gridbench ARGV`` in a fresh interpreter."""
    proc = subprocess.run(
        [sys.executable, "-c", _MODULES_AFTER.format(argv=argv)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    names = json.loads(proc.stderr.strip().splitlines()[-1])
    return {name.partition(".")[0] for name in names}


@pytest.mark.parametrize("argv", [["--help"], ["--version"]])
def test_help_and_version_import_no_heavy_package(argv: list[str]) -> None:
    loaded = modules_after(argv)
    assert "gridbench" in loaded  # the probe ran
    assert loaded.isdisjoint(HEAVY), sorted(loaded & set(HEAVY))
    assert "bench" not in loaded


@pytest.mark.parametrize(
    "argv",
    [
        ["config", "check", str(demo_config())],
        ["demo", "--headless", "--speed", "1e7"],
        ["run", "--config", str(demo_config()), "--intervals", "0"],
        ["emulate", "--meters", "0"],
    ],
)
def test_headless_commands_never_load_the_gui(argv: list[str]) -> None:
    loaded = modules_after(argv)
    assert "bench" in loaded  # the command ran
    assert loaded.isdisjoint({"gui", "PyQt6", "pyqtgraph"})


def _best_of(argv: list[str], runs: int) -> float:
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(argv, capture_output=True, check=True, timeout=60)
        best = min(best, time.perf_counter() - t0)
    return best


def test_help_is_fast_against_a_bare_interpreter_in_the_same_run() -> None:
    """Best of 7 (the least disturbed run on a loaded machine), interleaved with the
    baseline so both see the same load. The old entry point took ~50x the baseline
    (web3 and eth_account alone ~4.7 s)."""
    baseline, help_s, version_s = float("inf"), float("inf"), float("inf")
    for _ in range(7):
        baseline = min(baseline, _best_of([sys.executable, "-c", "pass"], 1))
        help_s = min(help_s, _best_of([sys.executable, "-m", "gridbench", "--help"], 1))
        version_s = min(version_s, _best_of([sys.executable, "-m", "gridbench", "--version"], 1))
    print(f"python -c pass {baseline:.3f} s, --help {help_s:.3f} s, --version {version_s:.3f} s")
    assert help_s / baseline < 4.0
    assert version_s / baseline < 4.0
    assert help_s < 0.5 and version_s < 0.5


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as done:
        main(["--help"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    for name, (_module, help_text) in COMMANDS.items():
        assert f"    {name}" in out and help_text in out


def test_version_is_the_distributions(capsys: pytest.CaptureFixture[str]) -> None:
    from importlib.metadata import version

    with pytest.raises(SystemExit):
        main(["--version"])
    assert capsys.readouterr().out == f"gridbench {__version__}\n"
    assert version("gridbench") == __version__


def test_each_command_registers_itself_with_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    for name in COMMANDS:
        with pytest.raises(SystemExit) as done:
            main([name, "--help"])
        assert done.value.code == 0
        assert f"usage: gridbench {name}" in capsys.readouterr().out


@pytest.mark.parametrize("argv", [["emulate", "run"], ["emulate"]])
def test_emulate_run_is_the_default_action(argv: list[str], tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "gridbench", *argv, "--meters", "2", "--duration", "0.3", "--json"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr
    ports = json.loads(proc.stdout)
    assert sorted(ports) == ["meter-1", "meter-2"]
    assert all(Path(port).name == meter_id for meter_id, port in ports.items())


def test_a_reader_that_goes_away_ends_the_command_without_a_traceback() -> None:
    # `gridbench config reference | head -1`: the pipe's reader is gone before the writes
    proc = subprocess.Popen(
        [sys.executable, "-m", "gridbench", "config", "reference"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err
