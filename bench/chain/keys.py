"""Keys of a run: generated fresh, kept in 0600 keystore files, never logged.

Nothing here derives a key from a name. :class:`KeyRing` makes a new key per participant
and per bench-attested meter the first time one is asked for, or loads a keystore file
named in the config (``key_file``); :func:`operator_account` chooses the operator's key
and refuses Anvil's public account 0 on any chain but Anvil's unless told otherwise.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from eth_account import Account
from eth_account.signers.local import LocalAccount

from bench.errors import ChainError, ConfigError

#: Anvil's first default account (mnemonic "test test ... junk"): public, funded on Anvil.
ANVIL_ACCOUNT_0_KEY = "0xac0974bec39a17e36ba4a6b4d238ff944bacb478cbed5efcae784d7bf4f2ff80"
ANVIL_CHAIN_ID = 31337
_KDF_ITERATIONS = 2**14  # the file's mode 0600 is the protection; this keeps runs fast


def load_key(path: Path, password: str = "") -> LocalAccount:
    """The account in keystore ``path``; refuses a file others can read."""
    try:
        mode = path.stat().st_mode
        data = json.loads(path.read_text())
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot read keystore {path} ({exc}): check the key_file path") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"keystore {path} is readable by others (mode {stat.S_IMODE(mode):o}): "
            f"run `chmod 600 {path}`"
        )
    try:
        return Account.from_key(Account.decrypt(data, password))
    except ValueError as exc:
        raise ConfigError(f"keystore {path} does not open with the given password") from exc


def save_key(account: LocalAccount, path: Path, password: str = "") -> Path:
    """Write ``account`` as a keystore file with mode 0600 (created so, never widened)."""
    blob = json.dumps(
        Account.encrypt(account.key, password, kdf="pbkdf2", iterations=_KDF_ITERATIONS)
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(blob)
    os.chmod(path, 0o600)
    return path


def operator_account(
    chain_id: int,
    *,
    key: str | bytes | None = None,
    key_file: Path | None = None,
    allow_anvil_key: bool = False,
) -> LocalAccount:
    """The operator: from ``key`` or ``key_file``, else Anvil's account 0 on Anvil only."""
    if key_file is not None:
        account = load_key(key_file)
    elif key is not None:
        account = Account.from_key(key)
    elif chain_id == ANVIL_CHAIN_ID:
        account = Account.from_key(ANVIL_ACCOUNT_0_KEY)
    else:
        raise ChainError(
            f"chain {chain_id} is not Anvil: give the operator's key file "
            "(operator_key_file) instead of Anvil's public account"
        )
    anvil_address = Account.from_key(ANVIL_ACCOUNT_0_KEY).address
    if account.address == anvil_address and chain_id != ANVIL_CHAIN_ID and not allow_anvil_key:
        raise ChainError(
            f"refusing Anvil's well-known account {anvil_address} on chain {chain_id}: its "
            "key is public; use your own operator key, or allow it explicitly"
        )
    return account


class KeyRing:
    """The run's keys by role and name, generated on first use or loaded from files."""

    def __init__(self, key_files: dict[str, Path] | None = None) -> None:
        self._accounts: dict[str, LocalAccount] = {}
        for name, path in (key_files or {}).items():
            self._accounts[f"participant:{name}"] = load_key(path)

    def _get(self, slot: str) -> LocalAccount:
        if slot not in self._accounts:
            self._accounts[slot] = Account.create()
        return self._accounts[slot]

    def participant(self, name: str) -> LocalAccount:
        """The wallet key of participant ``name``."""
        return self._get(f"participant:{name}")

    def attestor(self, meter: str) -> LocalAccount:
        """The bench's attestor key for ``meter`` (a meter that cannot sign itself)."""
        return self._get(f"attestor:{meter}")

    def participants(self) -> list[str]:
        """The names of the participants whose wallet keys the ring holds."""
        return [s.partition(":")[2] for s in self._accounts if s.startswith("participant:")]

    @classmethod
    def from_folder(cls, folder: Path) -> KeyRing:
        """The keys a run saved with :meth:`save` (e.g. to attach to its market again)."""
        ring = cls()
        for path in sorted(folder.glob("*.json")):
            role, _, name = path.stem.partition("-")
            ring._accounts[f"{role}:{name}"] = load_key(path)
        return ring

    def save(self, folder: Path) -> list[Path]:
        """Write every key as ``folder/<role>-<name>.json`` (mode 0600); returns the paths."""
        return [
            save_key(account, folder / f"{slot.replace(':', '-')}.json")
            for slot, account in self._accounts.items()
        ]

    def __repr__(self) -> str:  # never show a key
        return f"KeyRing({len(self._accounts)} keys)"
