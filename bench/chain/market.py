"""The bench's facade over the deployed contracts: participants, meters, settlement.

``Market.deploy(url)`` deploys LabCredit and GridMarket; ``Market.attach(url, address)``
reuses a deployment (after a restart, or on a shared devnet).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from eth_abi import encode as abi_encode
from eth_account.signers.local import LocalAccount
from eth_utils import keccak
from web3 import Web3
from web3.exceptions import Web3Exception

from bench.chain.artifacts import load_artifact
from bench.chain.client import ChainClient, Receipt, Wallet
from bench.chain.encoding import BatchEncodingError, encode_batch
from bench.chain.identities import (
    ANVIL_OPERATOR_KEY,
    meter_attestor,
    meter_id,
    participant_account,
)
from bench.chain.readings import NO_READING, SignedReading, sign_reading
from bench.errors import ChainError
from pricing import Trade

GAS_FUNDING_WEI = 10**20
SETTLE_TYPES = ("uint64", "bytes", "(bytes32,uint64,uint64,uint64,uint8,bytes32,bytes32)[]")
SETTLE_SELECTOR = keccak(text=f"settle({','.join(SETTLE_TYPES)})")[:4]
TX_GAS_CAP = 2**24  # EIP-7825: the most gas one transaction may use (Osaka and later)
REJECT_REASONS = {1: "insufficient balance", 2: "no verified meter reading", 3: "self trade"}
READING_REASONS = {
    1: "unknown or retired meter",
    2: "meter not owned by that participant",
    3: "stale reading",
    4: "bad signature",
    5: "energy counter went backwards",
    6: "field out of range",
}
_GAS = {"mint": 100_000, "approve": 60_000, "deposit": 250_000, "register": 400_000}


def _topic(signature: str) -> bytes:
    return keccak(text=signature)


TOPIC_SETTLED = _topic("IntervalSettled(uint64,bytes32,uint256,uint256,uint256,uint256)")
TOPIC_REJECTED = _topic("TradesRejected(uint64,bytes)")
TOPIC_READING_REJECTED = _topic("ReadingRejected(bytes32,uint64,uint8)")
TOPIC_METER_REGISTERED = _topic("MeterRegistered(bytes32,address,address,string)")
TOPIC_METER_HANDED_OVER = _topic("MeterHandedOver(bytes32,address,address)")
TOPIC_SESSION_OPENED = _topic("SessionOpened(uint256,bytes32,address,uint256,uint32)")
TOPIC_SESSION_CLOSED = _topic("SessionClosed(uint256,bytes32,address,uint256,uint256,uint256)")


@dataclass(frozen=True)
class Settlement:
    """What one interval's settlement transaction did."""

    interval_id: int
    tx_hash: str
    batch_hash: str
    block_number: int
    settled_trades: tuple[Trade, ...]
    rejected_trades: tuple[tuple[Trade, str], ...]
    gas_used: int
    value_settled_wei: int
    energy_settled_wh: int
    rejected_readings: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class SettledInterval:
    """One IntervalSettled event: what the panel lists without fetching the trades."""

    interval_id: int
    tx_hash: str
    batch_hash: str
    block_number: int
    settled_count: int
    rejected_count: int
    value_settled_wei: int
    energy_settled_wh: int


@dataclass(frozen=True)
class SessionBill:
    """A closed supply session: metered energy, what was billed and refunded."""

    session_id: int
    meter: str
    consumer: str
    energy_wh: int
    billed_wei: int
    refund_wei: int


def abi_word(data: bytes, n: int) -> int:
    """The ``n``-th 32-byte word of ABI-encoded event data, as an unsigned integer."""
    return int.from_bytes(data[32 * n : 32 * n + 32], "big")


def encode_settle(interval_id: int, batch: bytes, readings: Sequence[tuple[Any, ...]]) -> bytes:
    """Calldata of ``settle`` straight through eth_abi (web3's encode_abi is ~10x slower)."""
    return SETTLE_SELECTOR + abi_encode(SETTLE_TYPES, [interval_id, batch, list(readings)])


def settle_gas_bound(trades: int, participants: int, calldata_bytes: int) -> int:
    """A safe gas limit for ``settle`` (measured: about 900 gas per trade and 22,000 per
    participant with a verified reading), capped at EIP-7825's per-transaction limit."""
    bound = 100_000 + 16 * calldata_bytes + 1_200 * trades + 30_000 * participants
    return min(bound, TX_GAS_CAP)


def rejection_reasons(event_data: bytes) -> dict[int, str]:
    """Trade index -> reason, from a TradesRejected event's ABI-encoded ``bytes``."""
    length = abi_word(event_data, 1)
    codes = event_data[64 : 64 + length]
    return {n: REJECT_REASONS.get(code, f"reason {code}") for n, code in enumerate(codes) if code}


class Market:
    """A deployed LabCredit + GridMarket pair, driven by the operator's wallet."""

    def __init__(
        self,
        client: ChainClient,
        operator: Wallet,
        market_address: str,
        *,
        from_block: int = 0,
    ) -> None:
        client.require_code(market_address, "GridMarket")
        self.client = client
        self.operator = operator
        self.w3 = client.w3
        self.address = Web3.to_checksum_address(market_address)
        self.contract = self.w3.eth.contract(self.address, abi=load_artifact("GridMarket").abi)
        try:
            self.token_address = Web3.to_checksum_address(self.contract.functions.token().call())
            self.require_readings = bool(self.contract.functions.requireReadings().call())
        except (Web3Exception, ValueError) as exc:
            raise ChainError(
                f"the contract at {self.address} on {client.url} is not a GridMarket ({exc}): "
                "give the market's address, not the token's, or deploy again"
            ) from exc
        self.token = self.w3.eth.contract(self.token_address, abi=load_artifact("LabCredit").abi)
        self.from_block = from_block
        self._wallets: dict[str, Wallet] = {}
        self._name_by_address: dict[str, str] = {}
        self._index: dict[str, int] = {}
        self._name_of: dict[int, str] = {}
        self._meter_of: dict[str, str] = {}
        self._meter_by_owner: dict[str, str] | None = None

    # ---------------------------------------------------------------- set-up

    @classmethod
    def deploy(
        cls,
        url: str,
        *,
        operator_key: str | None = None,
        require_readings: bool = True,
        expected_chain_id: int | None = None,
    ) -> Market:
        """Deploy LabCredit and GridMarket; the operator defaults to Anvil's first account."""
        client = ChainClient(url, expected_chain_id=expected_chain_id)
        operator = Wallet.from_key(client, operator_key or ANVIL_OPERATOR_KEY)
        _require_gas(client, operator)
        start = int(client.w3.eth.block_number)
        token = _deploy(operator, "LabCredit", [])
        market = _deploy(operator, "GridMarket", [token, require_readings])
        return cls(client, operator, market, from_block=start)

    @classmethod
    def attach(
        cls,
        url: str,
        market_address: str,
        *,
        operator_key: str | None = None,
        expected_chain_id: int | None = None,
        from_block: int = 0,
    ) -> Market:
        """Reuse a GridMarket already deployed at ``market_address``."""
        client = ChainClient(url, expected_chain_id=expected_chain_id)
        operator = Wallet.from_key(client, operator_key or ANVIL_OPERATOR_KEY)
        return cls(client, operator, market_address, from_block=from_block)

    def wallet(self, name: str) -> Wallet:
        """The (deterministic) wallet of participant ``name``."""
        if name not in self._wallets:
            self._wallets[name] = self._wallet_for(participant_account(name))
            self._name_by_address[self._wallets[name].address] = name
        return self._wallets[name]

    def _wallet_for(self, account: LocalAccount) -> Wallet:
        return Wallet(self.client, account, tip_wei=self.operator.tip_wei)

    def add_participants(
        self,
        names: Iterable[str],
        deposit_wei: int,
        *,
        meters: Mapping[str, str] | None = None,
    ) -> None:
        """Give each participant gas, ``deposit_wei`` LABC minted and deposited, and a meter.

        ``meters`` maps a participant to its meter name (default: the participant's name).
        Transactions are pipelined: all sent, then all awaited.
        """
        names = list(dict.fromkeys(names))
        pending: list[tuple[Wallet, str]] = []
        for name in names:
            wallet = self.wallet(name)
            self._fund_gas(wallet.address)
            if deposit_wei > 0:
                data = self._encode(self.token, "mint", wallet.address, deposit_wei)
                pending.append(
                    (self.operator, self.operator.send(self.token_address, data, gas=_GAS["mint"]))
                )
        self._wait_all(pending)
        pending = []
        for name in names:
            wallet = self.wallet(name)
            if deposit_wei > 0:
                approve = self._encode(self.token, "approve", self.address, deposit_wei)
                pending.append(
                    (wallet, wallet.send(self.token_address, approve, gas=_GAS["approve"]))
                )
                deposit = self._encode(self.contract, "deposit", deposit_wei)
            else:
                deposit = self._encode(self.contract, "join")
            pending.append((wallet, wallet.send(self.address, deposit, gas=_GAS["deposit"])))
        for name in names:
            meter = (meters or {}).get(name, name)
            pending += self._register_meter_async(meter, name, location=f"supply point of {name}")
        self._wait_all(pending)
        for name in names:
            self.participant_index(name)

    def register_meter(self, meter: str, owner: str, location: str = "") -> None:
        """Register ``meter`` owned by participant ``owner`` (no-op if already so registered)."""
        self._wait_all(self._register_meter_async(meter, owner, location))

    def _register_meter_async(
        self, meter: str, owner: str, location: str
    ) -> list[tuple[Wallet, str]]:
        owner_address = self.wallet(owner).address
        self._meter_of[owner] = meter
        current_owner, status, *_ = self.contract.functions.meters(meter_id(meter)).call()
        if status != 0:
            if current_owner != owner_address:
                raise ChainError(
                    f"meter {meter} is registered to {current_owner}, not to {owner}: "
                    "hand it over from its owner or pick another meter name"
                )
            return []
        data = self._encode(
            self.contract,
            "registerMeter",
            meter_id(meter),
            owner_address,
            meter_attestor(meter).address,
            location,
        )
        return [(self.operator, self.operator.send(self.address, data, gas=_GAS["register"]))]

    def _fund_gas(self, address: str) -> None:
        if self.w3.eth.get_balance(Web3.to_checksum_address(address)) >= GAS_FUNDING_WEI // 10:
            return
        if self.client.is_anvil:
            self.client.set_balance(address, GAS_FUNDING_WEI)
        else:
            self.operator.transact(address, b"", gas=21_000, value=GAS_FUNDING_WEI // 100)

    # ------------------------------------------------------------ settlement

    def participant_index(self, name: str) -> int:
        """The market's index of participant ``name``; ChainError if it never joined."""
        if name not in self._index:
            idx = int(self.contract.functions.participantIndex(self.wallet(name).address).call())
            if idx == 0:
                raise ChainError(
                    f"participant {name} has no account in the market at {self.address}: "
                    "call add_participants for it before settling its trades"
                )
            self._index[name] = idx
            self._name_of[idx] = name
        return self._index[name]

    def participant_label(self, address: str) -> str:
        """The participant name of a wallet address if this bench knows it, else the address."""
        return self._name_by_address.get(address, address)

    def participant_name(self, index: int) -> str:
        """The name of participant ``index`` if this bench knows it, else its wallet address."""
        if index not in self._name_of:
            wallet = Web3.to_checksum_address(self.contract.functions.account(index).call()[0])
            return self.participant_label(wallet)
        return self._name_of[index]

    def settle_interval(
        self,
        interval_id: int,
        trades: Sequence[Trade],
        readings: Mapping[str, int | SignedReading] | None = None,
        *,
        timestamp_s: int | None = None,
    ) -> Settlement:
        """Settle one interval's cleared trades in one transaction, at most once.

        ``readings`` maps each participant to its meter's energy counter (Wh) at the end of
        the interval, which the bench signs with the meter's attestation key, or to a
        reading the meter signed itself. Raises
        ChainError (error_name "IntervalAlreadySettled") if the interval is settled.

        The gas limit is a measured upper bound, not an estimate: ``eth_estimateGas``
        would execute the batch a dozen times and halve the throughput. A revert is still
        decoded, from the mined receipt.
        """
        data, indices = self.settle_calldata(interval_id, trades, readings, timestamp_s=timestamp_s)
        gas = settle_gas_bound(len(trades), len(indices), len(data))
        receipt = self.operator.wait(self.operator.send(self.address, data, gas=gas))
        return self.settlement_from_receipt(interval_id, trades, receipt)

    def settle_calldata(
        self,
        interval_id: int,
        trades: Sequence[Trade],
        readings: Mapping[str, int | SignedReading] | None = None,
        *,
        timestamp_s: int | None = None,
    ) -> tuple[bytes, tuple[int, ...]]:
        """The ``settle`` call data for an interval and the participant indices it packs."""
        index_of = {}
        for t in trades:
            for name in (t.buyer, t.seller):
                if name not in index_of:
                    index_of[name] = self.participant_index(name)
        try:
            batch, indices = encode_batch(trades, index_of)
        except BatchEncodingError as exc:
            raise ChainError(f"interval {interval_id} cannot be settled: {exc}") from exc
        signed = self._sign_readings(interval_id, indices, readings, timestamp_s)
        return encode_settle(interval_id, batch, signed), indices

    def meter_of(self, name: str) -> str | None:
        """The meter of participant ``name``: registered by this bench or found on chain."""
        if name not in self._meter_of:
            if self._meter_by_owner is None:
                self._meter_by_owner = self._meters_from_events()
            meter = self._meter_by_owner.get(self.wallet(name).address)
            if meter is None:
                return None
            self._meter_of[name] = meter
        return self._meter_of[name]

    def _meters_from_events(self) -> dict[str, str]:
        logs = self.event_logs(TOPIC_METER_REGISTERED) + self.event_logs(TOPIC_METER_HANDED_OVER)
        logs.sort(key=lambda log: (log["blockNumber"], log["logIndex"]))
        by_owner: dict[str, str] = {}
        for log in logs:
            meter = bytes(log["topics"][1]).rstrip(b"\0").decode(errors="replace")
            new_owner = log["topics"][2 if bytes(log["topics"][0]) == TOPIC_METER_REGISTERED else 3]
            by_owner = {o: m for o, m in by_owner.items() if m != meter}
            by_owner[Web3.to_checksum_address(bytes(new_owner)[-20:])] = meter
        return by_owner

    def meter_reading(
        self, name: str, interval_id: int, energy_wh: int, timestamp_s: int | None = None
    ) -> SignedReading:
        """The reading of the meter of participant ``name``, signed by that meter."""
        meter = self._require_meter(name)
        return sign_reading(
            meter_attestor(meter),
            chain_id=self.client.chain_id,
            market=self.address,
            meter_id=meter_id(meter),
            interval_id=interval_id,
            energy_wh=energy_wh,
            timestamp_s=int(time.time()) if timestamp_s is None else timestamp_s,
        )

    def _sign_readings(
        self,
        interval_id: int,
        indices: Sequence[int],
        readings: Mapping[str, int | SignedReading] | None,
        timestamp_s: int | None,
    ) -> list[tuple[Any, ...]]:
        if readings is None:
            if self.require_readings and indices:
                raise ChainError(
                    f"the market at {self.address} settles only metered energy: pass "
                    f"readings={{participant: energy counter Wh}} for interval {interval_id}"
                )
            return []
        signed: list[tuple[Any, ...]] = []
        for idx in indices:
            name = self._name_of[idx]
            given = readings.get(name) if self.meter_of(name) is not None else None
            if given is None:
                signed.append(NO_READING)
            elif isinstance(given, SignedReading):
                signed.append(given.as_tuple())
            else:
                signed.append(
                    self.meter_reading(name, interval_id, int(given), timestamp_s).as_tuple()
                )
        return signed

    def settlement_from_receipt(
        self, interval_id: int, trades: Sequence[Trade], receipt: Receipt
    ) -> Settlement:
        """The Settlement of ``trades`` (in batch order) told by a settle receipt's events."""
        rejected: dict[int, str] = {}
        bad_readings: list[tuple[str, str]] = []
        summary: bytes | None = None
        for log in receipt.logs:
            if log["address"] != self.address:
                continue
            topic = bytes(log["topics"][0])
            if topic == TOPIC_REJECTED:
                rejected = rejection_reasons(bytes(log["data"]))
            elif topic == TOPIC_READING_REJECTED:
                meter = bytes(log["topics"][1]).rstrip(b"\0").decode(errors="replace")
                code = abi_word(bytes(log["data"]), 0)
                bad_readings.append((meter, READING_REASONS.get(code, f"reason {code}")))
            elif topic == TOPIC_SETTLED:
                summary = bytes(log["data"])
        if summary is None:
            raise ChainError(
                f"settlement of interval {interval_id} ({receipt.tx_hash}) emitted no "
                f"IntervalSettled event: is {self.address} really a GridMarket?"
            )
        return Settlement(
            interval_id=interval_id,
            tx_hash=receipt.tx_hash,
            batch_hash="0x" + summary[:32].hex(),
            block_number=receipt.block_number,
            settled_trades=tuple(t for n, t in enumerate(trades) if n not in rejected),
            rejected_trades=tuple((trades[n], why) for n, why in sorted(rejected.items())),
            gas_used=receipt.gas_used,
            value_settled_wei=abi_word(summary, 3),
            energy_settled_wh=abi_word(summary, 4),
            rejected_readings=tuple(bad_readings),
        )

    def is_settled(self, interval_id: int) -> bool:
        """True once ``interval_id`` has been settled on chain."""
        return bool(self.contract.functions.isSettled(interval_id).call())

    def settlement_events(self) -> list[SettledInterval]:
        """Every settlement of this market from its events, in chain order."""
        return [self.settled_from_log(log) for log in self.event_logs(TOPIC_SETTLED)]

    def settled_from_log(self, log: Any) -> SettledInterval:
        """Decode one IntervalSettled log."""
        data = bytes(log["data"])
        return SettledInterval(
            interval_id=int.from_bytes(bytes(log["topics"][1]), "big"),
            tx_hash="0x" + bytes(log["transactionHash"]).hex(),
            batch_hash="0x" + data[:32].hex(),
            block_number=int(log["blockNumber"]),
            settled_count=abi_word(data, 1),
            rejected_count=abi_word(data, 2),
            value_settled_wei=abi_word(data, 3),
            energy_settled_wh=abi_word(data, 4),
        )

    def settled_intervals(self) -> list[int]:
        """Every interval id settled on this market, ascending, from its events."""
        logs = self.event_logs(TOPIC_SETTLED)
        return sorted(int.from_bytes(bytes(log["topics"][1]), "big") for log in logs)

    def settle_unsettled(
        self,
        intervals: Mapping[int, Sequence[Trade]],
        readings: Mapping[int, Mapping[str, int | SignedReading]] | None = None,
    ) -> list[Settlement]:
        """Exactly once across restarts: settle, in order, only the intervals not yet on chain."""
        done: list[Settlement] = []
        for interval_id in sorted(intervals):
            if self.is_settled(interval_id):
                continue
            try:
                done.append(
                    self.settle_interval(
                        interval_id, intervals[interval_id], (readings or {}).get(interval_id)
                    )
                )
            except ChainError as exc:
                # Settled meanwhile: a transaction sent before a crash was mined first.
                if exc.error_name != "IntervalAlreadySettled":
                    raise
        return done

    # -------------------------------------------------------------- balances

    def balance_wei(self, name: str) -> int:
        """Prepaid balance of ``name`` inside the market."""
        return int(self.contract.functions.balanceOf(self.wallet(name).address).call())

    def wallet_wei(self, name: str) -> int:
        """LABC held in the wallet of ``name`` (outside the market)."""
        return int(self.token.functions.balanceOf(self.wallet(name).address).call())

    def total_holdings_wei(self) -> int:
        """LABC held by the market contract (prepaid balances + open session deposits)."""
        return int(self.token.functions.balanceOf(self.address).call())

    def session_deposits_wei(self) -> int:
        """LABC escrowed by open supply sessions."""
        return int(self.contract.functions.totalSessionDepositsWei().call())

    def balances_wei(self, names: Iterable[str]) -> dict[str, int]:
        """Prepaid balance of each named participant (for the panel)."""
        return {name: self.balance_wei(name) for name in names}

    def deposit(self, name: str, amount_wei: int, *, mint: bool = True) -> None:
        """Top up the prepaid balance of ``name`` (minting the LABC first if ``mint``)."""
        wallet = self.wallet(name)
        if mint:
            data = self._encode(self.token, "mint", wallet.address, amount_wei)
            self.operator.transact(self.token_address, data, gas=_GAS["mint"])
        approve = self._encode(self.token, "approve", self.address, amount_wei)
        wallet.transact(self.token_address, approve, gas=_GAS["approve"])
        wallet.transact(self.address, self._encode(self.contract, "deposit", amount_wei))

    def withdraw(self, name: str, amount_wei: int) -> None:
        """Pull ``amount_wei`` from the prepaid balance of ``name`` back to its wallet."""
        wallet = self.wallet(name)
        wallet.transact(self.address, self._encode(self.contract, "withdraw", amount_wei))

    def meter_status(self, meter: str) -> tuple[str | None, str]:
        """(owner label or None, status: "unregistered" | "active" | "retired") of a meter."""
        owner, status, *_ = self.contract.functions.meters(meter_id(meter)).call()
        names = ("unregistered", "active", "retired")
        return (None if int(status) == 0 else self.participant_label(owner)), names[int(status)]

    def retire_meter(self, meter: str) -> None:
        """The operator retires ``meter``: its readings and sessions are refused from now on."""
        data = self._encode(self.contract, "retireMeter", meter_id(meter))
        self.operator.transact(self.address, data)
        self._forget_meter(meter)

    def hand_over_meter(self, meter: str, owner: str, new_owner: str) -> None:
        """``owner`` hands ``meter`` over to participant ``new_owner``."""
        to = self.wallet(new_owner).address
        data = self._encode(self.contract, "handOverMeter", meter_id(meter), to)
        self.wallet(owner).transact(self.address, data)
        self._forget_meter(meter)
        self._meter_of[new_owner] = meter

    def _forget_meter(self, meter: str) -> None:
        self._meter_of = {name: m for name, m in self._meter_of.items() if m != meter}
        self._meter_by_owner = None

    # --------------------------------------------------------- supply sessions

    def set_tariff(self, owner: str, meter: str, price_wei_per_wh: int) -> None:
        """The meter's owner sets its supply-session price (0 closes it to sessions)."""
        data = self._encode(self.contract, "setTariff", meter_id(meter), price_wei_per_wh)
        self.wallet(owner).transact(self.address, data)

    def submit_reading(self, owner: str, energy_wh: int, interval_id: int | None = None) -> None:
        """Record a fresh signed reading of the meter of ``owner`` outside settlement."""
        reading = self._fresh_reading(owner, energy_wh, interval_id)
        data = self._encode(self.contract, "submitReading", reading.as_tuple())
        self.operator.transact(self.address, data)

    def _fresh_reading(self, owner: str, energy_wh: int, interval_id: int | None) -> SignedReading:
        meter = self._require_meter(owner)
        state = self.contract.functions.meters(meter_id(meter)).call()
        last_timestamp, last_interval = int(state[3]), int(state[5])
        interval = last_interval if interval_id is None else interval_id
        stamp = max(int(time.time()), last_timestamp + 1)
        return self.meter_reading(owner, interval, energy_wh, stamp)

    def open_session(
        self,
        consumer: str,
        meter_owner: str,
        cap_wei: int,
        *,
        max_price_wei_per_wh: int,
        energy_counter_wh: int | None = None,
    ) -> int:
        """Open a supply session of ``consumer`` on the meter of ``meter_owner``.

        ``energy_counter_wh`` (the meter's counter now) is recorded first so the bill starts
        there. The bench unlocks the relay when it sees the SessionOpened event.
        """
        if energy_counter_wh is not None:
            self.submit_reading(meter_owner, energy_counter_wh)
        meter = self._require_meter(meter_owner)
        data = self._encode(
            self.contract, "openSession", meter_id(meter), cap_wei, max_price_wei_per_wh
        )
        receipt = self.wallet(consumer).transact(self.address, data)
        for log in receipt.logs:
            if bytes(log["topics"][0]) == TOPIC_SESSION_OPENED:
                return int.from_bytes(bytes(log["topics"][1]), "big")
        raise ChainError(f"openSession ({receipt.tx_hash}) emitted no SessionOpened event")

    def close_session(
        self,
        session_id: int,
        meter_owner: str,
        energy_counter_wh: int,
        *,
        closer: str | None = None,
    ) -> SessionBill:
        """Close a session with the meter's counter now; bills the owner, refunds the rest.

        ``closer`` is the participant who sends it (default: the operator).
        """
        reading = self._fresh_reading(meter_owner, energy_counter_wh, None)
        data = self._encode(self.contract, "closeSession", session_id, reading.as_tuple())
        wallet = self.operator if closer is None else self.wallet(closer)
        receipt = wallet.transact(self.address, data)
        for log in receipt.logs:
            if bytes(log["topics"][0]) == TOPIC_SESSION_CLOSED:
                return self.bill_from_log(log)
        raise ChainError(f"closeSession ({receipt.tx_hash}) emitted no SessionClosed event")

    def session_bills(self) -> list[SessionBill]:
        """Every closed session of this market, oldest first (for the panel and audit)."""
        return [self.bill_from_log(log) for log in self.event_logs(TOPIC_SESSION_CLOSED)]

    def open_sessions(self) -> list[int]:
        """Ids of the sessions still open."""
        opened = [
            int.from_bytes(bytes(g["topics"][1]), "big")
            for g in self.event_logs(TOPIC_SESSION_OPENED)
        ]
        return [sid for sid in opened if self.contract.functions.sessions(sid).call()[5]]

    def bill_from_log(self, log: Any) -> SessionBill:
        """Decode one SessionClosed log."""
        data = bytes(log["data"])
        consumer = Web3.to_checksum_address(bytes(log["topics"][3])[-20:])
        return SessionBill(
            session_id=int.from_bytes(bytes(log["topics"][1]), "big"),
            meter=bytes(log["topics"][2]).rstrip(b"\0").decode(errors="replace"),
            consumer=self.participant_label(consumer),
            energy_wh=abi_word(data, 0),
            billed_wei=abi_word(data, 1),
            refund_wei=abi_word(data, 2),
        )

    def _require_meter(self, owner: str) -> str:
        meter = self.meter_of(owner)
        if meter is None:
            raise ChainError(f"participant {owner} has no meter: register_meter first")
        return meter

    # ----------------------------------------------------------------- helpers

    def _encode(self, contract: Any, fn: str, *args: Any) -> bytes:
        return bytes.fromhex(contract.encode_abi(fn, args=list(args))[2:])

    def _wait_all(self, pending: Sequence[tuple[Wallet, str]]) -> None:
        for wallet, tx_hash in pending:
            wallet.wait(tx_hash)

    def event_logs(self, topic: bytes, *more_topics: Any) -> list[Any]:
        """This market's logs with event ``topic`` (and further topic filters), oldest first."""
        return list(
            self.w3.eth.get_logs(
                {
                    "address": self.address,
                    "fromBlock": self.from_block,
                    "toBlock": "latest",
                    "topics": ["0x" + topic.hex(), *more_topics],
                }
            )
        )


def _require_gas(client: ChainClient, operator: Wallet) -> None:
    if client.w3.eth.get_balance(operator.address) == 0:
        if client.is_anvil:
            client.set_balance(operator.address, GAS_FUNDING_WEI)
            return
        raise ChainError(
            f"the operator {operator.address} has no native ETH on {client.url} (chain "
            f"{client.chain_id}): fund it for gas, or pass another operator key"
        )


def _deploy(operator: Wallet, name: str, args: Sequence[Any]) -> str:
    artifact = load_artifact(name)
    factory = operator.client.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
    data = bytes.fromhex(factory.constructor(*args).data_in_transaction[2:])
    receipt = operator.transact(None, data)
    tx = operator.client.w3.eth.get_transaction_receipt(receipt.tx_hash)  # type: ignore[arg-type]
    return str(tx["contractAddress"])
