"""Chain layer: Anvil, the typed client over web3.py, the market facade, settlement.

Public names: :class:`Anvil`, :class:`Market`, :class:`Settlement`, :class:`SettledInterval`,
:class:`SessionBill`.
"""

from bench.chain.anvil import Anvil
from bench.chain.market import Market, SessionBill, SettledInterval, Settlement

__all__ = ["Anvil", "Market", "SessionBill", "SettledInterval", "Settlement"]
