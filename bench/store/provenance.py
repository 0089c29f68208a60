"""What a run needs to be reproduced: the config as read, its overrides, the software.

Stored in the journal's run table by :class:`~bench.store.recorder.JournalRecorder`:
``config_text``, ``config_path``, ``overrides``, ``gridbench_version``,
``git_revision`` (empty outside a checkout), and the SHA-256 of the contracts' and the
firmware's build artifacts (empty when a build is absent).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import subprocess
from functools import partial
from pathlib import Path

from bench.builds import REPO_ROOT, locate
from bench.config import ScenarioConfig, load_with_overrides
from bench.errors import ConfigError, ToolMissingError
from bench.store.journal import Journal
from bench.store.recorder import JournalRecorder


def provenance(config: ScenarioConfig) -> dict[str, object]:
    """The run attributes that let ``gridbench run --from`` rerun ``config``."""
    return {
        "config_text": config.source_text,
        "config_path": "" if config.source is None else str(config.source),
        "overrides": dict(config.overrides),
        "gridbench_version": _version(),
        "git_revision": _git_revision(),
        "contracts_sha256": _hash_of("contracts", ("GridMarket", "LabCredit")),
        "firmware_sha256": _hash_of("firmware", ()),
    }


def _version() -> str:
    try:
        return importlib.metadata.version("gridbench")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _git_revision() -> str:
    if not (REPO_ROOT / ".git").exists():
        return ""
    try:
        out = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return ""
    return out.stdout.strip() if out.returncode == 0 else ""


def _hash_of(build: str, contracts: tuple[str, ...]) -> str:
    try:
        path = locate(build)
    except ToolMissingError:
        return ""
    files = [path / f"{c}.sol" / f"{c}.json" for c in contracts] if contracts else [path]
    digest = hashlib.sha256()
    for file in files:
        if not Path(file).is_file():
            return ""
        digest.update(Path(file).read_bytes())
    return digest.hexdigest()


def recorder_for(config: ScenarioConfig, runs_dir: Path | str) -> JournalRecorder:
    """A journal in ``runs_dir/<time>-<config name>/`` that keeps ``config``'s provenance."""
    name = config.source.stem if config.source is not None else None
    return JournalRecorder(runs_dir, name=name, provenance=partial(provenance, config))


def rerun_config(run_dir: Path | str) -> ScenarioConfig:
    """The config of a past run (its text and overrides as journaled), checked again."""
    run_dir = Path(run_dir)
    path = run_dir / "journal.sqlite" if run_dir.is_dir() else run_dir
    if not path.is_file():
        raise ConfigError(f"no run journal at {path}; pass a run folder runs/<time>-<name>/")
    journal = Journal(path)
    try:
        text, source, overrides = (
            journal.meta(k) for k in ("config_text", "config_path", "overrides")
        )
    finally:
        journal.close()
    if not isinstance(text, str) or not text:
        raise ConfigError(
            f"the run {run_dir} has no journaled config text (an older run); rerun it with "
            "--config and its parameters instead"
        )
    given = overrides if isinstance(overrides, dict) else {}
    return load_with_overrides(Path(str(source or run_dir / "config.toml")), given, text=text)
