"""The journal's hash chain: each interval's record digested with the previous digest.

``digest_n = SHA-256(canonical(record_n) ‖ digest_{n-1})`` (the digests as 32 raw
bytes), starting from ``genesis = SHA-256(b"gridbench journal v1\\n" ‖ config_sha256)``
so the chain is bound to the run's config. ``canonical`` is JSON with sorted keys, no
whitespace, ASCII only, and every list of rows sorted by its own JSON text, so the
digest depends on what was recorded, never on the order SQLite returns it in.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence

GENESIS_TAG = b"gridbench journal v1\n"


def canonical(value: object) -> bytes:
    """The canonical JSON bytes of ``value`` (dicts, lists, str, int, float, None)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def sorted_rows(rows: Sequence[Sequence[object]]) -> list[list[object]]:
    """Rows as lists, sorted by their canonical text (order-free, mixed types allowed)."""
    return sorted((list(r) for r in rows), key=lambda r: canonical(r))


def genesis(config_sha256: str) -> str:
    """The digest that precedes the first interval."""
    return hashlib.sha256(GENESIS_TAG + config_sha256.encode()).hexdigest()


def chain_digest(record: Mapping[str, object], previous_hex: str) -> str:
    """``SHA-256(canonical(record) ‖ previous digest)`` as hex."""
    return hashlib.sha256(canonical(record) + bytes.fromhex(previous_hex)).hexdigest()


def config_sha256(config_text: str, overrides: Mapping[str, object]) -> str:
    """The hash that names a run's config: its text and the command-line overrides."""
    return hashlib.sha256(
        canonical({"text": config_text, "overrides": dict(overrides)})
    ).hexdigest()
