"""Contract ABIs and bytecode from forge's build output (``contracts/out``)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_utils import keccak

from bench.chain.tools import contracts_out_dir
from bench.errors import ChainError

BUILD_HINT = "run `make build-contracts` (forge build in contracts/)"


@dataclass(frozen=True)
class Artifact:
    """One compiled contract."""

    name: str
    abi: tuple[dict[str, Any], ...]
    bytecode: str
    userdoc: dict[str, Any]


@cache
def load_artifact(name: str) -> Artifact:
    """The artifact of contract ``name`` (e.g. ``GridMarket``)."""
    path = contracts_out_dir() / f"{name}.sol" / f"{name}.json"
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise ChainError(f"contract artifact {path} is missing: {BUILD_HINT}") from None
    except json.JSONDecodeError as exc:
        raise ChainError(f"contract artifact {path} is corrupt ({exc}): {BUILD_HINT}") from None
    bytecode = data.get("bytecode", {}).get("object", "")
    if not bytecode or bytecode == "0x":
        raise ChainError(f"contract artifact {path} has no bytecode: {BUILD_HINT}")
    userdoc = data.get("metadata", {}).get("output", {}).get("userdoc", {})
    return Artifact(name=name, abi=tuple(data["abi"]), bytecode=bytecode, userdoc=userdoc)


def _signature(entry: dict[str, Any]) -> str:
    return f"{entry['name']}({','.join(abi_type(i) for i in entry['inputs'])})"


def abi_type(param: dict[str, Any]) -> str:
    """The canonical ABI type of a parameter (tuples spelled out)."""
    kind: str = param["type"]
    if kind.startswith("tuple"):
        return f"({','.join(abi_type(c) for c in param['components'])}){kind[5:]}"
    return kind


@cache
def error_table(*names: str) -> dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """4-byte selector -> (error name, argument names, argument types) of the contracts' errors."""
    table: dict[bytes, tuple[str, tuple[str, ...], tuple[str, ...]]] = {}
    for name in names:
        for entry in load_artifact(name).abi:
            if entry.get("type") == "error":
                selector = keccak(text=_signature(entry))[:4]
                table[selector] = (
                    entry["name"],
                    tuple(i["name"] for i in entry["inputs"]),
                    tuple(abi_type(i) for i in entry["inputs"]),
                )
    return table
