"""The bench's facade over the deployed contracts: one object, one part per concern.

``Market.deploy(url)`` deploys LabCredit and GridMarket; ``Market.attach(url, address)``
reuses a deployment. The parts: :attr:`accounts` (wallets, balances), :attr:`registry`
(meters), :attr:`settler` (interval settlement), :attr:`sessions` (supply sessions).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from web3 import Web3
from web3.exceptions import Web3Exception

from bench.chain.accounts import Accounts
from bench.chain.artifacts import load_artifact
from bench.chain.client import ChainClient, TxLog, Wallet
from bench.chain.deployment import connect, deploy_contract, require_gas, wait_all
from bench.chain.keys import KeyRing
from bench.chain.orders import SignedBook
from bench.chain.registry import MeterRegistry
from bench.chain.sessions import SessionBill, Sessions
from bench.chain.settlement import Readings, Settlement, Settler
from bench.errors import ChainError
from pricing import Trade


class Market:
    """A deployed LabCredit + GridMarket pair, driven by the operator's wallet."""

    def __init__(
        self,
        client: ChainClient,
        operator: Wallet,
        market_address: str,
        *,
        keys: KeyRing | None = None,
        from_block: int = 0,
    ) -> None:
        client.require_code(market_address, "GridMarket")
        self.client, self.operator, self.w3 = client, operator, client.w3
        self.address = Web3.to_checksum_address(market_address)
        self.contract = self.w3.eth.contract(self.address, abi=load_artifact("GridMarket").abi)
        try:
            self.token_address = Web3.to_checksum_address(self.contract.functions.token().call())
        except (Web3Exception, ValueError) as exc:
            raise ChainError(
                f"the contract at {self.address} on {client.url} is not a GridMarket ({exc}): "
                "give the market's address, not the token's, or deploy again"
            ) from exc
        self.token = self.w3.eth.contract(self.token_address, abi=load_artifact("LabCredit").abi)
        self.from_block = from_block
        self.keys = KeyRing() if keys is None else keys
        self.accounts = Accounts(client, operator, self.contract, self.token, self.keys.participant)
        self.registry = MeterRegistry(self.accounts, self.keys, self.event_logs)
        self.settler = Settler(self.accounts, self.registry, self.event_logs)
        self.sessions = Sessions(self.accounts, self.registry, self.event_logs)

    @classmethod
    def deploy(
        cls,
        url: str,
        *,
        max_interval_step: int = 4,
        keys: KeyRing | None = None,
        tx_log: TxLog | None = None,
        **how: Any,
    ) -> Market:
        """Deploy LabCredit and GridMarket (``how``: operator key and chain, see
        ``connect``); ``tx_log`` is told of every transaction from the first one on."""
        client, operator = connect(url, **how)
        client.tx_log = tx_log
        require_gas(client, operator)
        start = int(client.w3.eth.block_number)
        token = deploy_contract(operator, "LabCredit", [])
        market = deploy_contract(operator, "GridMarket", [token, max_interval_step])
        return cls(client, operator, market, keys=keys, from_block=start)

    @classmethod
    def attach(
        cls,
        url: str,
        market_address: str,
        *,
        keys: KeyRing | None = None,
        from_block: int = 0,
        **how: Any,
    ) -> Market:
        """Reuse a GridMarket already deployed at ``market_address`` (with the run's keys)."""
        client, operator = connect(url, **how)
        return cls(client, operator, market_address, keys=keys, from_block=from_block)

    def add_participants(
        self,
        names: Iterable[str],
        deposit_wei: int,
        *,
        meters: Mapping[str, str] | None = None,
        register_meters: bool = True,
    ) -> None:
        """Give each participant gas, ``deposit_wei`` LABC minted and deposited, and a
        bench-attested meter (``meters``: participant -> meter name, default its own name;
        none with ``register_meters=False``, to commission them later), all pipelined."""
        names = list(dict.fromkeys(names))
        for name in names:
            self.accounts.fund_gas(self.accounts.wallet(name).address)
        wait_all([self.accounts.send_mint(n, deposit_wei) for n in names if deposit_wei > 0])
        pending = [tx for n in names for tx in self.accounts.send_join(n, deposit_wei)]
        for name in names if register_meters else ():
            meter = (meters or {}).get(name, name)
            pending += self.registry.send_register(meter, name, f"supply point of {name}")
        wait_all(pending)
        for name in names:
            self.accounts.index(name)

    def wallet(self, name: str) -> Wallet:
        """The wallet of participant ``name``."""
        return self.accounts.wallet(name)

    def settle_interval(
        self,
        interval_id: int,
        trades: Sequence[Trade],
        readings: Readings = (),
        *,
        book: SignedBook | None = None,
        journal_digest: str | bytes | None = None,
    ) -> Settlement:
        """Settle one interval's trades in one transaction, at most once (ChainError
        "IntervalAlreadySettled" otherwise). ``readings``: signed counters recorded first;
        ``book``: the participants' signed orders (default: each signs what covers its
        trades); ``journal_digest``: the run journal's chained digest so far, committed in
        the IntervalSettled event. The gas limit is a measured bound, not an estimate;
        reverts are decoded."""
        return self.settler.settle_interval(
            interval_id, trades, readings, book=book, journal_digest=journal_digest
        )

    def commit_journal(self, through_interval_id: int, journal_digest: str | bytes) -> str:
        """Commit the journal's digest through its last interval (JournalCommitted)."""
        return self.settler.commit_journal(through_interval_id, journal_digest)

    def settle_unsettled(
        self,
        intervals: Mapping[int, Sequence[Trade]],
        readings: Mapping[int, Readings] | None = None,
    ) -> list[Settlement]:
        """Exactly once across restarts: settle, in order, only the intervals not yet on chain."""
        return self.settler.settle_unsettled(intervals, readings)

    def settled_intervals(self) -> list[int]:
        """Every interval id settled on this market, ascending, from its events."""
        return sorted(e.interval_id for e in self.settler.events())

    def balance_wei(self, name: str) -> int:
        """Prepaid balance of ``name`` inside the market."""
        return self.accounts.balance_wei(name)

    def total_holdings_wei(self) -> int:
        """LABC held by the market contract (prepaid balances + open session deposits)."""
        return int(self.token.functions.balanceOf(self.address).call())

    def session_bills(self) -> list[SessionBill]:
        """Every closed session of this market, oldest first (for the panel and audit)."""
        return self.sessions.bills()

    def event_logs(self, topic: bytes, *more_topics: Any) -> list[Any]:
        """This market's raw logs with event ``topic`` (and further topic filters), oldest first."""
        query = {"address": self.address, "fromBlock": self.from_block, "toBlock": "latest"}
        query["topics"] = ["0x" + topic.hex(), *more_topics]
        return list(self.w3.eth.get_logs(query))  # type: ignore[arg-type]
