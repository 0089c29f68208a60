"""Supply sessions: tariffs, opening, closing with the meter's signed counter, the bills."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from bench.chain.accounts import Accounts
from bench.chain.deployment import encode_call
from bench.chain.events import DecodedLog, decode_log, topic
from bench.chain.identities import meter_id
from bench.chain.readings import SignedReading
from bench.chain.settlement import Settler
from bench.errors import ChainError


@dataclass(frozen=True)
class SessionOpened:
    """A consumer opened a supply session: unlock the meter's relay."""

    session_id: int
    meter: str
    consumer: str
    cap_wei: int
    price_wei_per_wh: int


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
            a["priceWeiPerWh"],
        )  # fmt: skip
    if event.name == "SessionClosed":
        return SessionBill(
            a["sessionId"], a["meterId"], accounts.label(a["consumer"]), a["energyWh"],
            a["billedWei"], a["refundWei"],
        )  # fmt: skip
    return None


class Sessions:
    """Supply sessions on the market's meters."""

    def __init__(self, accounts: Accounts, settler: Settler, logs: Any) -> None:
        self.accounts = accounts
        self.settler = settler
        self.registry = settler.registry
        self.market = accounts.market
        self._logs = logs

    def set_tariff(self, owner: str, meter: str, price_wei_per_wh: int) -> None:
        """The meter's owner sets its supply-session price (0 closes it to sessions)."""
        data = encode_call(self.market, "setTariff", meter_id(meter), price_wei_per_wh)
        self.accounts.wallet(owner).transact(self.market.address, data)

    def submit_reading(self, owner: str, energy_wh: int, interval_id: int | None = None) -> None:
        """Record a fresh signed reading of the meter of ``owner`` outside settlement."""
        reading = self._fresh_reading(owner, energy_wh, interval_id)
        data = encode_call(self.market, "submitReading", reading.as_tuple())
        self.accounts.operator.transact(self.market.address, data)

    def _fresh_reading(self, owner: str, energy_wh: int, interval_id: int | None) -> SignedReading:
        meter = self.registry.require_meter(owner)
        state = self.market.functions.meters(meter_id(meter)).call()
        last_timestamp, last_interval = int(state[3]), int(state[5])
        interval = last_interval if interval_id is None else interval_id
        stamp = max(int(time.time()), last_timestamp + 1)
        return self.settler.meter_reading(owner, interval, energy_wh, stamp)

    def open(
        self,
        consumer: str,
        meter_owner: str,
        cap_wei: int,
        *,
        max_price_wei_per_wh: int,
        energy_counter_wh: int | None = None,
    ) -> int:
        """Open a supply session of ``consumer`` on the meter of ``meter_owner``."""
        if energy_counter_wh is not None:
            self.submit_reading(meter_owner, energy_counter_wh)
        meter = self.registry.require_meter(meter_owner)
        data = encode_call(
            self.market, "openSession", meter_id(meter), cap_wei, max_price_wei_per_wh
        )
        receipt = self.accounts.wallet(consumer).transact(self.market.address, data)
        for event in filter(None, map(decode_log, receipt.logs)):
            if event.name == "SessionOpened":
                return int(event.args["sessionId"])
        raise ChainError(f"openSession ({receipt.tx_hash}) emitted no SessionOpened event")

    def close(
        self,
        session_id: int,
        meter_owner: str,
        energy_counter_wh: int,
        *,
        closer: str | None = None,
    ) -> SessionBill:
        """Close a session with the meter's counter now; bills the owner, refunds the rest."""
        reading = self._fresh_reading(meter_owner, energy_counter_wh, None)
        data = encode_call(self.market, "closeSession", session_id, reading.as_tuple())
        wallet = self.accounts.operator if closer is None else self.accounts.wallet(closer)
        receipt = wallet.transact(self.market.address, data)
        for event in filter(None, map(decode_log, receipt.logs)):
            bill = session_event(event, self.accounts)
            if isinstance(bill, SessionBill):
                return bill
        raise ChainError(f"closeSession ({receipt.tx_hash}) emitted no SessionClosed event")

    def bills(self) -> list[SessionBill]:
        """Every closed session of this market, oldest first (for the panel and audit)."""
        events = filter(None, map(decode_log, self._logs(topic("SessionClosed"))))
        return [b for e in events if isinstance(b := session_event(e, self.accounts), SessionBill)]

    def open_ids(self) -> list[int]:
        """Ids of the sessions still open."""
        events = filter(None, map(decode_log, self._logs(topic("SessionOpened"))))
        opened = [int(e.args["sessionId"]) for e in events]
        return [sid for sid in opened if self.market.functions.sessions(sid).call()[5]]

    def deposits_wei(self) -> int:
        """LABC escrowed by open supply sessions."""
        return int(self.market.functions.totalSessionDepositsWei().call())
