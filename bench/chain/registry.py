"""The meter registry: which meter belongs to whom, registering, retiring, handing over."""

from __future__ import annotations

from typing import Any

from bench.chain.accounts import Accounts
from bench.chain.client import Wallet
from bench.chain.deployment import encode_call, wait_all
from bench.chain.events import decode_log, topic
from bench.chain.identities import meter_attestor, meter_id
from bench.errors import ChainError

GAS_REGISTER = 400_000
STATUS_NAMES = ("unregistered", "active", "retired")


class MeterRegistry:
    """The bench's view of the market's meters, cached and refreshed from its events."""

    def __init__(self, accounts: Accounts, logs: Any) -> None:
        self.accounts = accounts
        self.market = accounts.market
        self._logs = logs  # (topic, *filters) -> raw logs, oldest first
        self._meter_of: dict[str, str] = {}
        self._by_owner: dict[str, str] | None = None

    def send_register(self, meter: str, owner: str, location: str) -> list[tuple[Wallet, str]]:
        """Register ``meter`` to ``owner`` unless already so (sent, not awaited)."""
        owner_address = self.accounts.wallet(owner).address
        self._meter_of[owner] = meter
        current_owner, status, *_ = self.market.functions.meters(meter_id(meter)).call()
        if status != 0:
            if current_owner != owner_address:
                raise ChainError(
                    f"meter {meter} is registered to {current_owner}, not to {owner}: "
                    "hand it over from its owner or pick another meter name"
                )
            return []
        attestor = meter_attestor(meter).address
        data = encode_call(
            self.market, "registerMeter", meter_id(meter), owner_address, attestor, location
        )
        operator = self.accounts.operator
        return [(operator, operator.send(self.market.address, data, gas=GAS_REGISTER))]

    def register(self, meter: str, owner: str, location: str = "") -> None:
        """Register ``meter`` owned by participant ``owner`` (no-op if already so registered)."""
        wait_all(self.send_register(meter, owner, location))

    def meter_of(self, name: str) -> str | None:
        """The meter of participant ``name``: registered by this bench or found on chain."""
        if name not in self._meter_of:
            if self._by_owner is None:
                self._by_owner = self._from_events()
            meter = self._by_owner.get(self.accounts.wallet(name).address)
            if meter is None:
                return None
            self._meter_of[name] = meter
        return self._meter_of[name]

    def require_meter(self, owner: str) -> str:
        """The meter of ``owner``; ChainError if it has none."""
        meter = self.meter_of(owner)
        if meter is None:
            raise ChainError(f"participant {owner} has no meter: register_meter first")
        return meter

    def _from_events(self) -> dict[str, str]:
        logs = self._logs(topic("MeterRegistered")) + self._logs(topic("MeterHandedOver"))
        events = sorted(
            (e for e in map(decode_log, logs) if e is not None),
            key=lambda e: (e.block_number, e.log_index),
        )
        by_owner: dict[str, str] = {}
        for event in events:
            meter = event.args["meterId"]
            new_owner = event.args["owner" if event.name == "MeterRegistered" else "to"]
            by_owner = {o: m for o, m in by_owner.items() if m != meter}
            by_owner[new_owner] = meter
        return by_owner

    def status(self, meter: str) -> tuple[str | None, str]:
        """(owner label or None, status: "unregistered" | "active" | "retired") of a meter."""
        owner, status, *_ = self.market.functions.meters(meter_id(meter)).call()
        label = None if int(status) == 0 else self.accounts.label(owner)
        return label, STATUS_NAMES[int(status)]

    def retire(self, meter: str) -> None:
        """The operator retires ``meter``: its readings and sessions are refused from now on."""
        data = encode_call(self.market, "retireMeter", meter_id(meter))
        self.accounts.operator.transact(self.market.address, data)
        self._forget(meter)

    def hand_over(self, meter: str, owner: str, new_owner: str) -> None:
        """``owner`` hands ``meter`` over to participant ``new_owner``."""
        to = self.accounts.wallet(new_owner).address
        data = encode_call(self.market, "handOverMeter", meter_id(meter), to)
        self.accounts.wallet(owner).transact(self.market.address, data)
        self._forget(meter)
        self._meter_of[new_owner] = meter

    def _forget(self, meter: str) -> None:
        self._meter_of = {name: m for name, m in self._meter_of.items() if m != meter}
        self._by_owner = None
