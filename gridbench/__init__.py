"""The ``gridbench`` command: the thin entry layer above :mod:`gui` and :mod:`bench`."""

__version__ = "0.1.0"
"""The one place the version is written (``pyproject.toml`` reads it from here)."""
