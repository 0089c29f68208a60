"""The participants' wallets: who is who, gas, prepaid balances and deposits."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from eth_account.signers.local import LocalAccount
from web3 import Web3

from bench.chain.client import ChainClient, Wallet
from bench.chain.deployment import GAS_FUNDING_WEI, encode_call
from bench.errors import ChainError

GAS = {"mint": 100_000, "approve": 60_000, "deposit": 250_000}


class Accounts:
    """Participant name -> wallet, and the market's view of each (index, balance)."""

    def __init__(
        self,
        client: ChainClient,
        operator: Wallet,
        market: Any,
        token: Any,
        key_of: Callable[[str], LocalAccount],
    ) -> None:
        self.client = client
        self.operator = operator
        self.market = market
        self.token = token
        self._key_of = key_of
        self._wallets: dict[str, Wallet] = {}
        self._name_by_address: dict[str, str] = {}
        self._index: dict[str, int] = {}
        self._name_of: dict[int, str] = {}

    def wallet(self, name: str) -> Wallet:
        """The wallet of participant ``name``."""
        if name not in self._wallets:
            account = self._key_of(name)
            self._wallets[name] = Wallet(self.client, account, tip_wei=self.operator.tip_wei)
            self._name_by_address[account.address] = name
        return self._wallets[name]

    def fund_gas(self, address: str) -> None:
        """Give ``address`` native ETH for gas if it is low (Anvil: set; else: send)."""
        w3 = self.client.w3
        if w3.eth.get_balance(Web3.to_checksum_address(address)) >= GAS_FUNDING_WEI // 10:
            return
        if self.client.is_anvil:
            self.client.set_balance(address, GAS_FUNDING_WEI)
        else:
            self.operator.transact(address, b"", gas=21_000, value=GAS_FUNDING_WEI // 100)

    def send_mint(self, name: str, amount_wei: int) -> tuple[Wallet, str]:
        """Mint LABC to ``name`` (sent by the operator, not awaited)."""
        data = encode_call(self.token, "mint", self.wallet(name).address, amount_wei)
        return self.operator, self.operator.send(self.token.address, data, gas=GAS["mint"])

    def send_join(self, name: str, deposit_wei: int) -> list[tuple[Wallet, str]]:
        """Approve and deposit ``deposit_wei`` (or just join if 0), not awaited."""
        wallet = self.wallet(name)
        sent = []
        if deposit_wei > 0:
            approve = encode_call(self.token, "approve", self.market.address, deposit_wei)
            sent.append((wallet, wallet.send(self.token.address, approve, gas=GAS["approve"])))
            data = encode_call(self.market, "deposit", deposit_wei)
        else:
            data = encode_call(self.market, "join")
        sent.append((wallet, wallet.send(self.market.address, data, gas=GAS["deposit"])))
        return sent

    def index(self, name: str) -> int:
        """The market's index of participant ``name``; ChainError if it never joined."""
        if name not in self._index:
            idx = int(self.market.functions.participantIndex(self.wallet(name).address).call())
            if idx == 0:
                raise ChainError(
                    f"participant {name} has no account in the market at "
                    f"{self.market.address}: call add_participants for it before settling"
                )
            self._index[name] = idx
            self._name_of[idx] = name
        return self._index[name]

    def name_wallet(self, name: str, address: str) -> None:
        """Label ``address`` as participant ``name`` (a wallet whose key the bench lacks:
        an auditor's view, named by the meters the chain says it owns)."""
        self._name_by_address[Web3.to_checksum_address(address)] = name

    def label(self, address: str) -> str:
        """The participant name of a wallet address if this bench knows it, else the address."""
        return self._name_by_address.get(address, address)

    def name(self, index: int) -> str:
        """The name of participant ``index`` if this bench knows it, else its wallet address."""
        if index not in self._name_of:
            wallet = Web3.to_checksum_address(self.market.functions.account(index).call()[0])
            return self.label(wallet)
        return self._name_of[index]

    def balance_wei(self, name: str) -> int:
        """Prepaid balance of ``name`` inside the market."""
        return int(self.market.functions.balanceOf(self.wallet(name).address).call())

    def wallet_wei(self, name: str) -> int:
        """LABC held in the wallet of ``name`` (outside the market)."""
        return int(self.token.functions.balanceOf(self.wallet(name).address).call())

    def balances_wei(self, names: Iterable[str]) -> dict[str, int]:
        """Prepaid balance of each named participant (for the panel)."""
        return {name: self.balance_wei(name) for name in names}

    def deposit(self, name: str, amount_wei: int, *, mint: bool = True) -> None:
        """Top up the prepaid balance of ``name`` (minting the LABC first if ``mint``)."""
        wallet = self.wallet(name)
        if mint:
            data = encode_call(self.token, "mint", wallet.address, amount_wei)
            self.operator.transact(self.token.address, data, gas=GAS["mint"])
        approve = encode_call(self.token, "approve", self.market.address, amount_wei)
        wallet.transact(self.token.address, approve, gas=GAS["approve"])
        wallet.transact(self.market.address, encode_call(self.market, "deposit", amount_wei))

    def withdraw(self, name: str, amount_wei: int) -> None:
        """Pull ``amount_wei`` from the prepaid balance of ``name`` back to its wallet."""
        data = encode_call(self.market, "withdraw", amount_wei)
        self.wallet(name).transact(self.market.address, data)
