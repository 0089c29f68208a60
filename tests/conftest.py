"""Project-wide pytest set-up (``--meter-port``, ``--bench-config``, the ``hil`` marker and the
bench fixtures come from the package's own plugin, ``gridbench.pytest_plugin``)."""

from __future__ import annotations

import os
import tempfile

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# The panel keeps recent files and geometry in QSettings: never the user's own.
os.environ["XDG_CONFIG_HOME"] = tempfile.mkdtemp(prefix="gridbench-tests-config-")
# Generated PV days (bench.profiles.cache): never in the user's cache.
os.environ.setdefault("GRIDBENCH_CACHE", tempfile.mkdtemp(prefix="gridbench-tests-cache-"))
