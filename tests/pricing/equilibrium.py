"""An independent equilibrium oracle: enumerate integer prices with exact Python ints.

Written without the step curves or the marginal orders the production code uses: for each
candidate price it sums the bids priced above/at it and the offers priced below/at it, and
keeps the prices at which both correspondences admit the volume. The set of such prices is
an interval whose ends are order prices, so the candidates are the book's distinct prices
(the tests also check a price strictly inside the interval and one just outside each end).
"""

from __future__ import annotations

from pricing import Order, Side


def admits(orders: list[Order], price: int, volume: int) -> bool:
    """Do demand and supply at ``price`` both admit ``volume``?

    Demand at p is the interval [bids priced > p, bids priced ≥ p]; supply at p is
    [offers priced < p, offers priced ≤ p].
    """
    d_strict = sum(o.energy_wh for o in orders if o.side is Side.BID and o.price_wei_per_wh > price)
    d_weak = sum(o.energy_wh for o in orders if o.side is Side.BID and o.price_wei_per_wh >= price)
    s_strict = sum(
        o.energy_wh for o in orders if o.side is Side.OFFER and o.price_wei_per_wh < price
    )
    s_weak = sum(
        o.energy_wh for o in orders if o.side is Side.OFFER and o.price_wei_per_wh <= price
    )
    return d_strict <= volume <= d_weak and s_strict <= volume <= s_weak


def equilibrium_interval(orders: list[Order], volume: int) -> tuple[int, int] | None:
    """The lowest and highest order price at which the book clears ``volume`` (or None)."""
    prices = sorted({o.price_wei_per_wh for o in orders})
    admitted = [p for p in prices if admits(orders, p, volume)]
    return (admitted[0], admitted[-1]) if admitted else None
