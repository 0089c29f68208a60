"""Registering a freshly provisioned, meter-signing meter on chain: the step that
``gridbench meter provision --chain URL`` and the panel's commissioning dialog share.

The caller passes where to register (:class:`ChainTarget`) and a way to take the
meter's commissioning reading; the reading is taken only once the market is reached,
so a dead chain or a wrong address costs the meter no sequence number.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from bench.attestation import SignedCounters
from bench.chain.keys import KeyRing
from bench.chain.market import Market
from bench.errors import ConfigError


@dataclass(frozen=True)
class ChainTarget:
    """Where and to whom a meter is registered."""

    url: str
    market: str  # the GridMarket's address
    owner: str  # the participant who owns the meter
    location: str = ""
    owner_key_file: Path | None = None  # the owner's wallet key (0600)
    operator_key_file: Path | None = None  # default: Anvil's account 0 (allow_anvil_key)
    allow_anvil_key: bool = False

    def check(self) -> None:
        """ConfigError unless the market and the owner are named (before touching a meter)."""
        if not (self.url and self.market and self.owner):
            raise ConfigError(
                "registering on chain needs the chain's URL, the market's address (--market) "
                "and the owner's participant name (--owner)"
            )


def register_meter(
    target: ChainTarget,
    meter_id: str,
    signer: str,
    commissioning: Callable[[], SignedCounters],
) -> str:
    """Register ``meter_id`` with signing address ``signer`` to ``target.owner``, the
    contract checking ``commissioning()`` (a fresh meter-signed reading). Returns the
    line the CLI prints; raises :class:`ConfigError` or :class:`ChainError` saying what
    to fix."""
    target.check()
    keys = KeyRing({target.owner: target.owner_key_file} if target.owner_key_file else {})
    market = Market.attach(
        target.url,
        target.market,
        keys=keys,
        operator_key_file=target.operator_key_file,
        allow_anvil_key=target.allow_anvil_key,
    )
    first = commissioning()
    market.registry.register(
        meter_id, target.owner, target.location, signer=signer, commissioning=first
    )
    kind = market.registry.attestation(meter_id)
    return f"registered on {target.market}: owner {target.owner}, {kind}, seq {first.seq}"
