"""The on-disk cache of generated PV days, keyed by everything that determines them.

One ``.npy`` file per (array, site, date, model version) under ``$GRIDBENCH_CACHE`` (else
``$XDG_CACHE_HOME/gridbench``, else ``~/.cache/gridbench``) in ``profiles/``. A changed
key (a new tilt, another cloud seed) is a new file; nothing is ever invalidated in place.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np

from bench.config import PvArrayConfig, SiteConfig

MODEL_VERSION = 1
"""Bump when the PV model changes what it computes: old cache files stop matching."""


def cache_dir() -> Path:
    """Where generated profiles are kept."""
    root = os.environ.get("GRIDBENCH_CACHE")
    if root:
        return Path(root) / "profiles"
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "gridbench" / "profiles"


def cache_key(array: PvArrayConfig, site: SiteConfig, date: dt.date) -> str:
    """SHA-256 of the model version, the array (without its meter), the site and the date."""
    site_fields = dataclasses.asdict(site)
    site_fields.pop("start_date")
    array_fields = dataclasses.asdict(array)
    array_fields.pop("meter_id")
    doc = {"v": MODEL_VERSION, "site": site_fields, "array": array_fields, "date": str(date)}
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def cached(key: str, make: Callable[[], np.ndarray]) -> np.ndarray:
    """The array stored under ``key``, made (and stored atomically) when absent."""
    path = cache_dir() / f"{key}.npy"
    try:
        return np.load(path)
    except (OSError, ValueError):
        pass
    values = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    # a file of its own per writer: two meters with the same array may make the same day
    with tempfile.NamedTemporaryFile(dir=path.parent, suffix=".tmp", delete=False) as fh:
        np.save(fh, values)
    Path(fh.name).replace(path)
    return values
