"""Fixtures of the verdict tests: one honest run kept with its chain, and a copy of its
journal per test to tamper with (the helpers are in ``tests.report.journal_runs``)."""

from __future__ import annotations

import contextlib
import io
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.chain import Anvil
from gridbench.cli import main
from tests.report.journal_runs import HonestRun, journal_of, write_config


@pytest.fixture(scope="session")
def node() -> Iterator[Anvil]:
    with Anvil() as anvil:
        yield anvil


@pytest.fixture(scope="session")
def honest_run(node: Anvil, tmp_path_factory: pytest.TempPathFactory) -> HonestRun:
    folder = tmp_path_factory.mktemp("honest")
    config = write_config(folder)
    junit = folder / "run.xml"
    capture = folder / "out.txt"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(
            [
                "run",
                "--config",
                str(config),
                "--chain-url",
                node.url,
                "--journal",
                str(folder / "runs"),
                "--junit",
                str(junit),
            ]
        )
    capture.write_text(out.getvalue())
    return HonestRun(journal_of(folder / "runs"), junit, code, node.url, out.getvalue())


@pytest.fixture
def journal(honest_run: HonestRun, tmp_path: Path) -> Path:
    """A copy of the honest run's journal to tamper with."""
    copy = tmp_path / "journal.sqlite"
    shutil.copyfile(honest_run.journal, copy)
    return copy
