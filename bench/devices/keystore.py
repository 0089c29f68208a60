"""Relay HMAC keys in keystore files: one key per file, 64 hex digits, mode 0600.

The config names the file (``relay_key_file``); the key itself is never in the TOML and
never printed (only :func:`fingerprint`, which does not reveal it).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

from bench.config import MeterConfig
from bench.config.keyfiles import key_file_problem
from bench.devices import wire
from bench.errors import ConfigError

KEY_BYTES = 32


def read_key_file(path: Path) -> bytes:
    """The key in ``path``; ConfigError when the file is missing, public or malformed."""
    problem = key_file_problem(path)
    if problem is not None:
        raise ConfigError(f"relay key file: {problem}")
    text = path.read_text(encoding="ascii", errors="replace").strip()
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != KEY_BYTES:
        raise ConfigError(
            f"{path} does not hold a relay key (64 hex digits); write a fresh one with "
            "`gridbench meter provision`"
        )
    return key


def write_key_file(path: Path, key: bytes, *, replace: bool = False) -> None:
    """Store ``key`` in a new file ``path`` created with mode 0600 (never wider, not even
    for a moment); an existing file is kept unless ``replace``."""
    if len(key) != KEY_BYTES:
        raise ValueError("a relay key has 32 bytes")
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    if path.exists() and not replace:
        raise ConfigError(
            f"{path} exists already: give another --keystore, or --replace to overwrite it "
            "(the meter it belongs to then needs the new key)"
        )
    fd = os.open(tmp, flags, 0o600)
    try:
        os.fchmod(fd, 0o600)  # whatever the umask
        os.write(fd, (key.hex() + "\n").encode("ascii"))
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def fingerprint(key: bytes) -> str:
    """A short name for a key that does not reveal it (domain-separated SHA-256)."""
    if key == wire.DEFAULT_KEY:
        return "default (all zero)"
    return hashlib.sha256(b"gridbench relay key fingerprint\0" + key).hexdigest()[:16]


def relay_key(meter: MeterConfig) -> bytes:
    """The relay key of a configured meter: from its keystore file if it names one."""
    if meter.relay_key_file is not None:
        return read_key_file(meter.relay_key_file)
    return meter.key


def refuse_default_key(meter: MeterConfig, url: str, key_provisioned: bool) -> None:
    """ConfigError for a board still on the default key unless the config allows it."""
    if key_provisioned or meter.allow_default_key:
        return
    raise ConfigError(
        f"meter {meter.meter_id!r} on {url} still has the default (all-zero) relay key: "
        "anyone on its serial line can switch its relay or take it over. Provision it: "
        f"`gridbench meter provision --port {url} --id {meter.meter_id} --keystore "
        f'keys/{meter.meter_id}.key`, then set relay_key_file = "keys/{meter.meter_id}.key" '
        "in its [[meters]] entry (or allow_default_key = true for a demo bench)"
    )
