"""Key files named in a bench config: they must exist and be private (mode 0600)."""

from __future__ import annotations

import stat
from pathlib import Path


def key_file_problem(path: Path) -> str | None:
    """What is wrong with a key file, or None; the file is never read here."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return f"{path} does not exist; create it with the key, then `chmod 600 {path}`"
    except OSError as exc:
        return f"{path} cannot be read ({exc.strerror}); fix its permissions: `chmod 600 {path}`"
    if not stat.S_ISREG(mode):
        return f"{path} is not a regular file; point it at the key file"
    if stat.S_IMODE(mode) & 0o077:
        return (
            f"{path} is readable by others (mode {stat.S_IMODE(mode):04o}); run `chmod 600 {path}`"
        )
    return None
