"""Market clearing, curves, the PDE price model and the audit. Pure numpy/scipy.

Per market interval the panel/bench calls :func:`price_interval` (curves, pay-as-clear,
storage HJB re-solve, price breakdown) and, over recorded intervals, :func:`audit`.
"""

from pricing.audit import (
    AuditPolicy,
    AuditReport,
    EnergyBalance,
    Finding,
    IntervalRecord,
    SettledTrade,
    audit,
)
from pricing.book import Clearing, Order, OrderArrays, Side, Trade
from pricing.clearing import (
    MECHANISMS,
    clear_uniform,
    match_continuous,
    pay_as_bid,
    pay_as_clear,
    pay_as_offer,
)
from pricing.curves import demand_curve, supply_curve
from pricing.errors import PricingInputError
from pricing.interval import IntervalPricing, price_interval
from pricing.matching import Matching
from pricing.price import Charges, PriceBreakdown, instantaneous_price
from pricing.storage import Forecast, StorageModel, StorageValue, solve_storage

__all__ = [
    "MECHANISMS",
    "AuditPolicy",
    "AuditReport",
    "Charges",
    "Clearing",
    "EnergyBalance",
    "Finding",
    "Forecast",
    "IntervalPricing",
    "IntervalRecord",
    "Matching",
    "Order",
    "OrderArrays",
    "PriceBreakdown",
    "PricingInputError",
    "SettledTrade",
    "Side",
    "StorageModel",
    "StorageValue",
    "Trade",
    "audit",
    "clear_uniform",
    "demand_curve",
    "instantaneous_price",
    "match_continuous",
    "pay_as_bid",
    "pay_as_clear",
    "pay_as_offer",
    "price_interval",
    "solve_storage",
    "supply_curve",
]
