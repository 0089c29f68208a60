"""The instantaneous price of energy and its components, in wei/Wh.

energy part  = max(production cost floor, cleared price, storage scarcity value), split as
    production_cost  the floor: marginal cost of local production (PV + inverter, LCOE)
    market           how far the cleared price of the demand/supply graph is above the floor
    scarcity         how far the storage scarcity value -∂V/∂s (the HJB) is above both
network          the intermediary/network charge per Wh (wheeling, platform fee)
tax              ``tax_rate`` times (energy part + network)
total            the sum of the five; the components add up to it exactly (floats).
"""

from __future__ import annotations

from dataclasses import dataclass

from pricing.errors import PricingInputError


@dataclass(frozen=True)
class Charges:
    """The fixed parts of the price: production cost floor, network charge, tax rate."""

    production_cost_wei_per_wh: float = 60.0
    network_wei_per_wh: float = 20.0
    tax_rate: float = 0.05

    def __post_init__(self) -> None:
        if self.production_cost_wei_per_wh < 0 or self.network_wei_per_wh < 0:
            raise PricingInputError("production cost and network charge must be ≥ 0 wei/Wh")
        if not 0.0 <= self.tax_rate < 1.0:
            raise PricingInputError(f"tax_rate is a fraction in [0, 1), got {self.tax_rate}")


@dataclass(frozen=True)
class PriceBreakdown:
    """One instantaneous price with every component kept (wei/Wh)."""

    production_cost_wei_per_wh: float
    market_wei_per_wh: float
    scarcity_wei_per_wh: float
    network_wei_per_wh: float
    tax_wei_per_wh: float

    @property
    def total_wei_per_wh(self) -> float:
        """The instantaneous price: the sum of the components."""
        return (
            self.production_cost_wei_per_wh
            + self.market_wei_per_wh
            + self.scarcity_wei_per_wh
            + self.network_wei_per_wh
            + self.tax_wei_per_wh
        )

    def as_dict(self) -> dict[str, float]:
        """Components by short name plus ``total``, in display order (for the panel/journal)."""
        return {
            "production_cost": self.production_cost_wei_per_wh,
            "market": self.market_wei_per_wh,
            "scarcity": self.scarcity_wei_per_wh,
            "network": self.network_wei_per_wh,
            "tax": self.tax_wei_per_wh,
            "total": self.total_wei_per_wh,
        }


def instantaneous_price(
    cleared_price_wei_per_wh: int | None,
    scarcity_wei_per_wh: float,
    charges: Charges,
) -> PriceBreakdown:
    """Compose the price; a missing cleared price (no crossing) contributes nothing."""
    floor = charges.production_cost_wei_per_wh
    cleared = floor if cleared_price_wei_per_wh is None else float(cleared_price_wei_per_wh)
    market = max(cleared - floor, 0.0)
    scarcity = max(scarcity_wei_per_wh - (floor + market), 0.0)
    energy = floor + market + scarcity
    return PriceBreakdown(
        production_cost_wei_per_wh=floor,
        market_wei_per_wh=market,
        scarcity_wei_per_wh=scarcity,
        network_wei_per_wh=charges.network_wei_per_wh,
        tax_wei_per_wh=charges.tax_rate * (energy + charges.network_wei_per_wh),
    )
