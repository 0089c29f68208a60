"""Every profile test keeps its generated PV days in its own cache folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def profile_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A fresh ``$GRIDBENCH_CACHE`` per test."""
    monkeypatch.setenv("GRIDBENCH_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache" / "profiles"
