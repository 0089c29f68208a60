"""Market clearing, curves, the PDE price model and the audit. Pure numpy/scipy."""

from pricing.book import Clearing, Order, OrderArrays, Side, Trade
from pricing.clearing import (
    clear_uniform,
    match_continuous,
    pay_as_bid,
    pay_as_clear,
    pay_as_offer,
)
from pricing.curves import demand_curve, supply_curve
from pricing.errors import PricingInputError
from pricing.matching import Matching

__all__ = [
    "Clearing",
    "Matching",
    "Order",
    "OrderArrays",
    "PricingInputError",
    "Side",
    "Trade",
    "clear_uniform",
    "demand_curve",
    "match_continuous",
    "pay_as_bid",
    "pay_as_clear",
    "pay_as_offer",
    "supply_curve",
]
