"""Project-wide pytest options and fixtures."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--meter-port",
        action="append",
        default=[],
        metavar="PORT",
        help="serial port of a real meter board; adds the 'real' kind to the conformance suite",
    )
