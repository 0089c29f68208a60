"""An installed wheel runs ``gridbench demo --headless`` outside the repository.

Slow (a wheel build in an isolated environment plus a short demo on Anvil): run with
``pytest -m slow tests/entry/test_wheel.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from bench.builds import REPO_ROOT

pytestmark = [pytest.mark.slow, pytest.mark.chain]


def _run(argv: list[str], **kw: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(argv, capture_output=True, text=True, check=False, **kw)  # type: ignore[call-overload]
    assert proc.returncode == 0, f"{argv}: {proc.stdout}\n{proc.stderr}"
    return proc  # type: ignore[no-any-return]


def _stage_sources(dest: Path) -> None:
    """The checkout's tracked files plus the staged builds, as ``make wheel`` stages them."""
    files = _run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=REPO_ROOT
    ).stdout.split("\0")
    for name in filter(None, files):
        target = dest / name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / name, target, follow_symlinks=False)  # fixtures/ is a link
    for contract in ("GridMarket", "LabCredit"):
        out = dest / "bench/builds/contracts" / f"{contract}.sol"
        out.mkdir(parents=True)
        shutil.copy2(REPO_ROOT / f"contracts/out/{contract}.sol/{contract}.json", out)
    (dest / "bench/builds/firmware").mkdir(parents=True)
    shutil.copy2(REPO_ROOT / "firmware/build/uno/gridmeter.elf", dest / "bench/builds/firmware")


@dataclass(frozen=True)
class Installed:
    """A fresh virtualenv with the wheel (and this environment's dependencies)."""

    python: Path
    site: Path
    env: dict[str, str]
    built_s: float


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    """Build the wheel from the staged sources and install it into a fresh venv."""
    tmp_path = tmp_path_factory.mktemp("wheel")
    t0 = time.monotonic()
    src = tmp_path / "src"
    _stage_sources(src)
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(tmp_path), str(src)])
    (wheel,) = tmp_path.glob("gridbench-*.whl")
    built_s = time.monotonic() - t0

    venv = tmp_path / "venv"
    _run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    py = venv / "bin" / "python"
    site = Path(
        _run([str(py), "-c", "import site; print(site.getsitepackages()[0])"]).stdout.strip()
    )
    # the same dependencies as this environment, but not its (editable) gridbench
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    _run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "-q",
            "--no-deps",
            "--target",
            str(site),
            str(wheel),
        ]
    )
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("GRIDBENCH_") and k not in ("PYTHONPATH", "VIRTUAL_ENV")
    }
    env["GRIDBENCH_TOOLS"] = str(REPO_ROOT / ".tools")  # Anvil is no Python package
    return Installed(py, site, env, built_s)


def test_installed_wheel_runs_the_demo_outside_the_checkout(
    installed: Installed, tmp_path: Path
) -> None:
    py, site, env = installed.python, installed.site, installed.env
    work = tmp_path / "elsewhere"
    work.mkdir()
    where = _run(
        [
            str(py),
            "-c",
            "import bench.builds, bench.fixtures, gridbench; "
            "print(gridbench.__file__); print(bench.builds.locate('contracts')); "
            "print(bench.builds.locate('firmware')); print(bench.fixtures.demo_config())",
        ],
        cwd=work,
        env=env,
    ).stdout.split()
    assert all(Path(p).is_relative_to(site) for p in where), where

    t1 = time.monotonic()
    demo = _run(
        [str(py), "-m", "gridbench", "demo", "--headless", "--json", "--intervals", "4"],
        cwd=work,
        env=env,
        timeout=300,
    )
    summary = json.loads(demo.stdout)
    assert summary["intervals"] == 4
    assert summary["escrow_conserved"] is True
    assert summary["trades_settled"] > 0
    assert list(work.glob("runs/*/journal.sqlite"))
    print(
        f"wheel built in {installed.built_s:.1f} s; "
        f"demo (4 intervals) in {time.monotonic() - t1:.1f} s"
    )


def test_the_lab_tests_pass_with_the_plugin_from_the_wheel(
    installed: Installed, tmp_path: Path
) -> None:
    lab = tmp_path / "lab"
    shutil.copytree(REPO_ROOT / "examples" / "lab-tests", lab)
    plugin = _run(
        [str(installed.python), "-c", "import gridbench.pytest_plugin as p; print(p.__file__)"],
        cwd=lab,
        env=installed.env,
    ).stdout.strip()
    assert Path(plugin).is_relative_to(installed.site), plugin
    proc = _run(
        [str(installed.python), "-m", "pytest", "-p", "no:cacheprovider", "-v"],
        cwd=lab,
        env=installed.env,
        timeout=600,
    )
    assert "4 passed, 1 skipped" in proc.stdout, proc.stdout
    assert "SKIPPED" in proc.stdout and "--meter-port" in proc.stdout
