"""The ``gridbench`` command: the thin entry layer above :mod:`gui` and :mod:`bench`."""
