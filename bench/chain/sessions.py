"""Supply sessions: tariffs, opening, closing with the meter's signed counter, the bills."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from bench.attestation import SignedCounters, meter_id_bytes32
from bench.chain.accounts import Accounts
from bench.chain.client import Receipt, Wallet
from bench.chain.deployment import encode_call
from bench.chain.events import DecodedLog, decode_log, topic
from bench.chain.registry import MeterRegistry, counters_tuple
from bench.errors import ChainError


@dataclass(frozen=True)
class SessionOpened:
    """A consumer opened a supply session: unlock the meter's relay."""

    session_id: int
    meter: str
    consumer: str
    cap_wei: int
    price_wei_per_wh: int
    expires_at_s: int


@dataclass(frozen=True)
class SessionRecord:
    """A session as the market holds it: its escrow, starting counter, price and state."""

    session_id: int
    deposit_wei: int
    start_import_wh: int
    price_wei_per_wh: int
    open: bool


@dataclass(frozen=True)
class SessionBill:
    """A closed supply session: metered energy, what was billed and refunded."""

    session_id: int
    meter: str
    consumer: str
    energy_wh: int
    billed_wei: int
    refund_wei: int


def session_event(event: DecodedLog, accounts: Accounts) -> SessionOpened | SessionBill | None:
    """The SessionOpened or SessionBill told by a decoded event (None for other events)."""
    a = event.args
    if event.name == "SessionOpened":
        return SessionOpened(
            a["sessionId"], a["meterId"], accounts.label(a["consumer"]), a["capWei"],
            a["priceWeiPerWh"], a["expiresAt"],
        )  # fmt: skip
    if event.name == "SessionClosed":
        return SessionBill(
            a["sessionId"], a["meterId"], accounts.label(a["consumer"]), a["energyWh"],
            a["billedWei"], a["refundWei"],
        )  # fmt: skip
    return None


class Sessions:
    """Supply sessions on the market's meters."""

    def __init__(self, accounts: Accounts, registry: MeterRegistry, logs: Any) -> None:
        self.accounts = accounts
        self.registry = registry
        self.market = accounts.market
        self._logs = logs

    def set_tariff(self, owner: str, meter: str, price_wei_per_wh: int) -> None:
        """The meter's owner sets its supply-session price (0 closes it to sessions)."""
        data = encode_call(self.market, "setTariff", meter_id_bytes32(meter), price_wei_per_wh)
        self.accounts.wallet(owner).transact(self.market.address, data)

    def submit_reading(self, reading: SignedCounters, *, sender: str | None = None) -> None:
        """Relay a signed reading (anyone may; a copy of the newest is accepted again)."""
        data = encode_call(self.market, "submitReading", counters_tuple(reading))
        wallet = self.accounts.operator if sender is None else self.accounts.wallet(sender)
        wallet.transact(self.market.address, data)

    def open(
        self,
        consumer: str,
        meter: str,
        cap_wei: int,
        *,
        max_price_wei_per_wh: int,
        reading: SignedCounters,
        duration_s: int = 3600,
    ) -> int:
        """Open a supply session of ``consumer`` on ``meter``, starting at ``reading`` (at
        least as new as the newest recorded); after ``duration_s`` anyone may close it."""
        return self.open_event(
            consumer,
            meter,
            cap_wei,
            max_price_wei_per_wh=max_price_wei_per_wh,
            reading=reading,
            duration_s=duration_s,
        ).session_id

    def open_event(
        self,
        consumer: str,
        meter: str,
        cap_wei: int,
        *,
        max_price_wei_per_wh: int,
        reading: SignedCounters,
        duration_s: int = 3600,
    ) -> SessionOpened:
        """:meth:`open`, returning the chain's SessionOpened event from the receipt."""
        data = encode_call(
            self.market,
            "openSession",
            meter_id_bytes32(meter),
            cap_wei,
            max_price_wei_per_wh,
            duration_s,
            counters_tuple(reading),
        )
        receipt = self.accounts.wallet(consumer).transact(self.market.address, data)
        for event in filter(None, map(decode_log, receipt.logs)):
            opened = session_event(event, self.accounts)
            if isinstance(opened, SessionOpened):
                return opened
        raise ChainError(f"openSession ({receipt.tx_hash}) emitted no SessionOpened event")

    def close(
        self, session_id: int, reading: SignedCounters, *, closer: str | None = None
    ) -> SessionBill:
        """Close a session with a reading at least as new as the newest recorded; bills the
        owner, refunds the rest. ``closer``: consumer or owner (default: the operator)."""
        data = encode_call(self.market, "closeSession", session_id, counters_tuple(reading))
        return self._bill(self._sender(closer).transact(self.market.address, data))

    def close_expired(self, session_id: int, *, closer: str | None = None) -> SessionBill:
        """Anyone closes an expired session at the meter's last recorded counter."""
        data = encode_call(self.market, "closeExpiredSession", session_id)
        return self._bill(self._sender(closer).transact(self.market.address, data))

    def _sender(self, name: str | None) -> Wallet:
        return self.accounts.operator if name is None else self.accounts.wallet(name)

    def _bill(self, receipt: Receipt) -> SessionBill:
        for event in filter(None, map(decode_log, receipt.logs)):
            bill = session_event(event, self.accounts)
            if isinstance(bill, SessionBill):
                return bill
        raise ChainError(f"closing a session ({receipt.tx_hash}) emitted no SessionClosed event")

    def bills(self) -> list[SessionBill]:
        """Every closed session of this market, oldest first (for the panel and audit)."""
        events = filter(None, map(decode_log, self._logs(topic("SessionClosed"))))
        return [b for e in events if isinstance(b := session_event(e, self.accounts), SessionBill)]

    def opened(self) -> list[SessionOpened]:
        """Every session opened on this market, oldest first (closed ones included)."""
        events = filter(None, map(decode_log, self._logs(topic("SessionOpened"))))
        return [
            o for e in events if isinstance(o := session_event(e, self.accounts), SessionOpened)
        ]

    def record(self, session_id: int) -> SessionRecord:
        """Session ``session_id`` as the market holds it now."""
        s = self.market.functions.sessions(session_id).call()
        return SessionRecord(session_id, int(s[1]), int(s[3]), int(s[5]), bool(s[6]))

    def open_ids(self) -> list[int]:
        """Ids of the sessions still open."""
        events = filter(None, map(decode_log, self._logs(topic("SessionOpened"))))
        opened = [int(e.args["sessionId"]) for e in events]
        return [sid for sid in opened if self.market.functions.sessions(sid).call()[6]]

    def deposits_wei(self) -> int:
        """LABC escrowed by open supply sessions."""
        return int(self.market.functions.totalSessionDepositsWei().call())
