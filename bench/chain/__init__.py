"""Chain layer: Anvil, the typed client over web3.py, the market facade and its parts.

Public names: :class:`Anvil`, :class:`Market`, :class:`Settlement`, :class:`SettledInterval`,
:class:`SessionBill`.
"""

from bench.chain.anvil import Anvil
from bench.chain.market import Market
from bench.chain.sessions import SessionBill
from bench.chain.settlement import SettledInterval, Settlement

__all__ = ["Anvil", "Market", "SessionBill", "SettledInterval", "Settlement"]
