"""Where the project-local chain tools (anvil, forge) and the forge artifacts live."""

from __future__ import annotations

import os
from pathlib import Path

from bench.builds import locate
from bench.errors import ToolMissingError

REPO_ROOT = Path(__file__).resolve().parents[2]
INSTALL_HINT = (
    "run `make demo` (or `make setup`) to install the chain tools; outside a checkout, "
    "set GRIDBENCH_TOOLS to the folder holding node_modules/@foundry-rs"
)


def tools_dir() -> Path:
    """The npm tools folder: ``$GRIDBENCH_TOOLS`` or ``<repo>/.tools``."""
    return Path(os.environ.get("GRIDBENCH_TOOLS") or REPO_ROOT / ".tools")


def native_binary(tool: str) -> Path:
    """Path of the native Foundry binary ``tool`` (anvil, forge, cast), never the node wrapper."""
    path = tools_dir() / "node_modules" / "@foundry-rs" / f"{tool}-linux-amd64" / "bin" / tool
    if not (path.is_file() and os.access(path, os.X_OK)):
        raise ToolMissingError(f"{tool} not found at {path}: {INSTALL_HINT}")
    return path


def contracts_out_dir() -> Path:
    """Forge's output folder, found by :func:`bench.builds.locate`."""
    return locate("contracts")
