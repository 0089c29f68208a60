"""Helpers for the config tests: the demo config as text, edited per case."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from bench.fixtures import demo_config


@pytest.fixture
def demo_text() -> str:
    """The bundled demo config's text."""
    return demo_config().read_text()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[[str], Path]:
    """Write a config's text to a file and return its path."""

    def write(text: str, name: str = "bench.toml") -> Path:
        path = tmp_path / name
        path.write_text(text)
        return path

    return write


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the one occurrence of ``old`` replaced (fails if it is not there)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)
