"""Market clearing, curves, the PDE price model and the audit. Pure numpy/scipy (numba
kernels for the storage march and the pairing).

Per market interval the panel/bench calls :func:`price_interval` (curves, pay-as-clear,
storage HJB re-solve, price breakdown) and, over recorded intervals, :func:`audit`.
"""

from pricing.areas import AreaClearing, AreaPlan, PassThrough, clear_areas
from pricing.audit import (
    AuditPolicy,
    AuditReport,
    EnergyBalance,
    Finding,
    GridFlow,
    IntervalRecord,
    SettledTrade,
    audit,
)
from pricing.battery import Battery
from pricing.book import Clearing, Order, OrderArrays, Side, Trade
from pricing.clearing import (
    MECHANISMS,
    PRICE_RULES,
    UTILITY_GRID,
    clear_uniform,
    match_continuous,
    pay_as_bid,
    pay_as_clear,
    pay_as_clear_gsy_e,
    pay_as_offer,
    utility,
)
from pricing.curves import demand_curve, supply_curve
from pricing.demand import ConstantElasticity, shift_flexible_load
from pricing.errors import PricingError, PricingInputError
from pricing.grid import GridTariff
from pricing.interval import IntervalPricing, price_interval
from pricing.matching import Matching, Trades
from pricing.price import Charges, PriceBreakdown, instantaneous_price
from pricing.storage import Forecast, StorageModel, StorageValue, solve_storage
from pricing.strategies import (
    STRATEGIES,
    BiddingStrategy,
    FixedStrategy,
    MarketView,
    SignalStrategy,
    TariffStrategy,
    ZIPStrategy,
)

__all__ = [
    "MECHANISMS",
    "PRICE_RULES",
    "STRATEGIES",
    "UTILITY_GRID",
    "AreaClearing",
    "AreaPlan",
    "AuditPolicy",
    "AuditReport",
    "Battery",
    "BiddingStrategy",
    "Charges",
    "Clearing",
    "ConstantElasticity",
    "EnergyBalance",
    "Finding",
    "FixedStrategy",
    "Forecast",
    "GridFlow",
    "GridTariff",
    "IntervalPricing",
    "IntervalRecord",
    "MarketView",
    "Matching",
    "Order",
    "OrderArrays",
    "PassThrough",
    "PriceBreakdown",
    "PricingError",
    "PricingInputError",
    "SettledTrade",
    "Side",
    "SignalStrategy",
    "StorageModel",
    "StorageValue",
    "TariffStrategy",
    "Trade",
    "Trades",
    "ZIPStrategy",
    "audit",
    "clear_areas",
    "clear_uniform",
    "demand_curve",
    "instantaneous_price",
    "match_continuous",
    "pay_as_bid",
    "pay_as_clear",
    "pay_as_clear_gsy_e",
    "pay_as_offer",
    "price_interval",
    "shift_flexible_load",
    "solve_storage",
    "supply_curve",
    "utility",
]
