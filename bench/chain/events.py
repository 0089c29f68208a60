"""The market's events, topics and reason codes, all derived from the contract's ABI.

One place decodes logs for the facade, the watcher and the audit: :func:`topic` gives an
event's topic from its ABI signature, :func:`decode_log` turns a raw log into the event's
name and arguments, and :func:`reason_texts` reads the contract's ``<PREFIX>_*`` code
constants (named in the ABI, valued on chain, described by their ``@notice``) into reasons.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from eth_abi import decode as abi_decode
from eth_utils import keccak
from web3 import Web3

from bench.chain.artifacts import abi_type, load_artifact

MARKET = "GridMarket"


@dataclass(frozen=True)
class EventSpec:
    """One event of the ABI: its name, topic and how its arguments are laid out."""

    name: str
    topic: bytes
    indexed: tuple[tuple[str, str], ...]
    data: tuple[tuple[str, str], ...]


@cache
def event_specs(contract: str = MARKET) -> dict[str, EventSpec]:
    """Event name -> :class:`EventSpec` of ``contract``'s ABI."""
    specs = {}
    for entry in load_artifact(contract).abi:
        if entry.get("type") != "event":
            continue
        params = [(p["name"], abi_type(p), bool(p["indexed"])) for p in entry["inputs"]]
        signature = f"{entry['name']}({','.join(t for _, t, _ in params)})"
        specs[entry["name"]] = EventSpec(
            name=entry["name"],
            topic=keccak(text=signature),
            indexed=tuple((n, t) for n, t, i in params if i),
            data=tuple((n, t) for n, t, i in params if not i),
        )
    return specs


def topic(name: str, contract: str = MARKET) -> bytes:
    """The topic (keccak of the ABI signature) of event ``name``."""
    return event_specs(contract)[name].topic


@cache
def _by_topic(contract: str) -> dict[bytes, EventSpec]:
    return {spec.topic: spec for spec in event_specs(contract).values()}


@dataclass(frozen=True)
class DecodedLog:
    """One log of the market, decoded: the event's name, arguments and where it was mined."""

    name: str
    args: Mapping[str, Any]
    tx_hash: str
    block_number: int
    log_index: int


def decode_log(log: Any, contract: str = MARKET) -> DecodedLog | None:
    """The decoded event of a raw log, or None if ``contract`` declares no such event.

    Addresses come back checksummed, meter ids (``meterId``) as their ASCII name.
    """
    topics = [bytes(t) for t in log["topics"]]
    spec = _by_topic(contract).get(topics[0]) if topics else None
    if spec is None:
        return None
    args: dict[str, Any] = {}
    for (name, kind), raw in zip(spec.indexed, topics[1:], strict=True):
        args[name] = _value(name, kind, abi_decode([kind], raw)[0])
    values = abi_decode([k for _, k in spec.data], bytes(log["data"]))
    for (name, kind), value in zip(spec.data, values, strict=True):
        args[name] = _value(name, kind, value)
    return DecodedLog(
        name=spec.name,
        args=args,
        tx_hash="0x" + bytes(log["transactionHash"]).hex(),
        block_number=int(log["blockNumber"]),
        log_index=int(log["logIndex"]),
    )


def _value(name: str, kind: str, value: Any) -> Any:
    if kind == "address":
        return Web3.to_checksum_address(value)
    if name == "meterId":
        return value.rstrip(b"\0").decode(errors="replace")
    return value


def reason_constants(prefix: str, contract: str = MARKET) -> tuple[str, ...]:
    """Names of the ABI's ``uint8 <prefix>_*()`` getters (the contract's code constants)."""
    return tuple(
        entry["name"]
        for entry in load_artifact(contract).abi
        if entry.get("type") == "function"
        and entry["name"].startswith(prefix + "_")
        and not entry["inputs"]
        and [o["type"] for o in entry["outputs"]] == ["uint8"]
    )


def reason_texts(contract: Any, prefix: str) -> dict[int, str]:
    """Code -> reason of the deployed ``contract``'s ``<prefix>_*`` constants: the value
    is read on chain, the text is the constant's ``@notice`` in the artifact (else its
    name: ``REJECT_SELF_TRADE`` reads "self trade")."""
    notices = load_artifact(MARKET).userdoc.get("methods", {})
    table = {}
    for name in reason_constants(prefix):
        code = int(getattr(contract.functions, name)().call())
        fallback = name[len(prefix) + 1 :].lower().replace("_", " ")
        table[code] = notices.get(f"{name}()", {}).get("notice", fallback)
    return table
