"""The meter registry: which meter belongs to whom and who signs its counters.

A meter that signs its own readings is registered with its address and a reading it
signed at commissioning. One that cannot sign yet is attested by the bench: a fresh
attestor key per meter (from the run's :class:`~bench.chain.keys.KeyRing`) signs the same
``bench.attestation`` message, and the chain records the meter as "attested by bench".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.attestation import SignedCounters, meter_id_bytes32, sign_counters
from bench.chain.accounts import Accounts
from bench.chain.client import Wallet
from bench.chain.deployment import encode_call, wait_all
from bench.chain.events import decode_log, topic
from bench.chain.keys import KeyRing
from bench.errors import ChainError

GAS_REGISTER = 500_000
STATUS_NAMES = ("unregistered", "active", "retired")
KIND_METER, KIND_BENCH = 1, 2
KIND_NAMES = {KIND_METER: "meter-signed", KIND_BENCH: "attested by bench"}
MAX_LOSS_ALLOWANCE_BP = 1000  # GridMarket.MAX_LOSS_ALLOWANCE_BP: 10 %
DEFAULT_RATED_POWER_W = (
    1_000_000_000  # bench-attested meters: a bound on absurd counters, not a rating
)


def counters_tuple(c: SignedCounters) -> tuple[Any, ...]:
    """The contract's ``SignedCounters`` struct in ABI order."""
    return (c.meter_id, c.seq, c.import_wh, c.export_wh, c.time_s, c.v, c.r, c.s)


@dataclass(frozen=True)
class LastCounters:
    """A meter's counters as the market last accepted them (its commissioning reading
    until a settlement moved them)."""

    seq: int
    time_s: int
    import_wh: int
    export_wh: int


class BenchAttestor:
    """Signs counters for the meters the bench attests (next seq per meter)."""

    def __init__(self, keys: KeyRing) -> None:
        self.keys = keys
        self._seq: dict[str, int] = {}

    def follow(self, meter: str, seq: int) -> None:
        """Carry on after reading ``seq`` of ``meter`` (the chain's last, on a resume)."""
        self._seq[meter] = seq

    def sign(self, meter: str, import_wh: int, export_wh: int, time_s: int) -> SignedCounters:
        """The next attested reading of ``meter`` (seq starts at 0 at commissioning)."""
        seq = self._seq.get(meter, -1) + 1
        self._seq[meter] = seq
        return sign_counters(
            self.keys.attestor(meter).key,
            meter_id=meter_id_bytes32(meter),
            seq=seq,
            import_wh=import_wh,
            export_wh=export_wh,
            time_s=time_s,
        )


class MeterRegistry:
    """The bench's view of the market's meters, cached and refreshed from its events."""

    def __init__(self, accounts: Accounts, keys: KeyRing, logs: Any) -> None:
        self.accounts = accounts
        self.market = accounts.market
        self.attestor = BenchAttestor(keys)
        self._logs = logs  # (topic, *filters) -> raw logs, oldest first
        self._meter_of: dict[str, str] = {}
        self._by_owner: dict[str, str] | None = None

    def send_register(
        self,
        meter: str,
        owner: str,
        location: str,
        *,
        signer: str | None = None,
        commissioning: SignedCounters | None = None,
        rated_power_w: int = DEFAULT_RATED_POWER_W,
        grid_loss_allowance_bp: int | None = None,
    ) -> list[tuple[Wallet, str]]:
        """Register ``meter`` to ``owner`` unless already so (sent, not awaited). Without
        ``signer`` and ``commissioning`` the bench attests it from counters (0, 0). With
        ``grid_loss_allowance_bp`` it is the market's grid connection (``owner`` the city
        grid): its import backs the grid's sales, its export plus that allowance (basis
        points) of all energy injected the grid's purchases."""
        owner_address = self.accounts.wallet(owner).address
        self._meter_of[owner] = meter
        state = self.market.functions.meters(meter_id_bytes32(meter)).call()
        if int(state[3]) != 0:
            current = self.market.functions.meterOwner(meter_id_bytes32(meter)).call()
            if current != owner_address:
                raise ChainError(
                    f"meter {meter} is registered to {current}, not to {owner}: "
                    "hand it over from its owner or pick another meter name"
                )
            return []
        if commissioning is None:
            kind, signer = KIND_BENCH, self.attestor.keys.attestor(meter).address
            commissioning = self.attestor.sign(meter, 0, 0, 0)
        else:
            kind = KIND_METER
        head = (meter_id_bytes32(meter), owner_address, signer, kind, rated_power_w)
        tail = (location, counters_tuple(commissioning))
        if grid_loss_allowance_bp is None:
            data = encode_call(self.market, "registerMeter", *head, *tail)
        else:
            if not 0 <= grid_loss_allowance_bp <= MAX_LOSS_ALLOWANCE_BP:
                raise ChainError(
                    f"the grid meter {meter}'s loss allowance {grid_loss_allowance_bp} bp is "
                    f"outside 0-{MAX_LOSS_ALLOWANCE_BP}: lower [market] loss_fraction"
                )
            data = encode_call(
                self.market, "registerGridMeter", *head, grid_loss_allowance_bp, *tail
            )
        operator = self.accounts.operator
        return [(operator, operator.send(self.market.address, data, gas=GAS_REGISTER))]

    def register(self, meter: str, owner: str, location: str = "", **how: Any) -> None:
        """Register ``meter`` owned by participant ``owner`` (no-op if already so registered)."""
        wait_all(self.send_register(meter, owner, location, **how))

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
        status = int(self.market.functions.meters(meter_id_bytes32(meter)).call()[3])
        owner = self.market.functions.meterOwner(meter_id_bytes32(meter)).call()
        return (None if status == 0 else self.accounts.label(owner)), STATUS_NAMES[status]

    def attestation(self, meter: str) -> str:
        """ "meter-signed" or "attested by bench" (for the report and the panel)."""
        kind = int(self.market.functions.meters(meter_id_bytes32(meter)).call()[4])
        return KIND_NAMES.get(kind, "unregistered")

    def last_counters(self, meter: str) -> LastCounters:
        """The counters the market last accepted for ``meter``."""
        state = self.market.functions.meters(meter_id_bytes32(meter)).call()
        return LastCounters(int(state[5]), int(state[6]), int(state[7]), int(state[8]))

    def signer(self, meter: str) -> str:
        """The address whose signatures the market accepts for ``meter``'s counters."""
        return str(self.market.functions.meters(meter_id_bytes32(meter)).call()[0])

    def retire(self, meter: str) -> None:
        """The registrar retires ``meter`` (closing an expired session on it first)."""
        data = encode_call(self.market, "retireMeter", meter_id_bytes32(meter))
        self.accounts.operator.transact(self.market.address, data)
        self._forget(meter)

    def hand_over(self, meter: str, owner: str, new_owner: str) -> None:
        """``owner`` hands ``meter`` over to participant ``new_owner``."""
        to = self.accounts.wallet(new_owner).address
        data = encode_call(self.market, "handOverMeter", meter_id_bytes32(meter), to)
        self.accounts.wallet(owner).transact(self.market.address, data)
        self._forget(meter)
        self._meter_of[new_owner] = meter

    def _forget(self, meter: str) -> None:
        self._meter_of = {name: m for name, m in self._meter_of.items() if m != meter}
        self._by_owner = None
