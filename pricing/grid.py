"""The city grid as a counterparty (gsy-e's market maker / infinite bus).

The grid sells at a time-of-use import tariff and buys exports at a feed-in tariff, up to
the feeder's import and export limits, in every interval. :meth:`GridTariff.orders`
gives its offer and bid for one interval; :meth:`GridTariff.import_prices` the tariff
forecast that the storage PDE takes as its external supply price.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from pricing.book import Order, Side
from pricing.errors import PricingInputError


@dataclass(frozen=True)
class GridTariff:
    """``import_schedule`` is ``((start_hour, wei_per_wh), ...)``, start hours ascending from 0
    within a day, each price holding until the next start (wrapping at 24 h)."""

    import_schedule: tuple[tuple[float, int], ...]
    feed_in_wei_per_wh: int
    import_limit_w: float
    export_limit_w: float
    participant: str = "grid"

    def __post_init__(self) -> None:
        starts = [start for start, _ in self.import_schedule]
        if not starts or starts[0] != 0 or any(b <= a for a, b in itertools.pairwise(starts)):
            raise PricingInputError(
                "import_schedule needs start hours ascending from 0, e.g. ((0, 200), (17, 300))"
            )
        if starts[-1] >= 24:
            raise PricingInputError("import_schedule start hours must be below 24")
        if self.import_limit_w < 0 or self.export_limit_w < 0:
            raise PricingInputError("import_limit_w and export_limit_w must be ≥ 0 W")
        if any(price < self.feed_in_wei_per_wh for _, price in self.import_schedule):
            raise PricingInputError(
                "the feed-in tariff is above an import tariff: the grid would buy dearer than it "
                "sells; lower feed_in_wei_per_wh"
            )

    @classmethod
    def of(cls, schedule: Sequence[tuple[float, int]], **kwargs: object) -> GridTariff:
        """Build from any sequence of ``(start_hour, price)`` pairs."""
        return cls(tuple((float(h), int(p)) for h, p in schedule), **kwargs)  # type: ignore[arg-type]

    def import_tariff_wei_per_wh(self, hour: float) -> int:
        """The import tariff at ``hour`` (any real; taken modulo 24)."""
        starts = [start for start, _ in self.import_schedule]
        index = int(np.searchsorted(starts, hour % 24.0, side="right")) - 1
        return self.import_schedule[index][1]

    def import_prices(self, start_hour: float, step_h: float, steps: int) -> np.ndarray:
        """The import tariff of each of ``steps`` intervals from ``start_hour`` (float64)."""
        return np.array(
            [self.import_tariff_wei_per_wh(start_hour + i * step_h) for i in range(steps)],
            dtype=np.float64,
        )

    def orders(self, start_hour: float, interval_h: float, time_s: float = 0.0) -> list[Order]:
        """The grid's offer (imports, at the import tariff) and bid (exports, at the feed-in
        tariff) for the interval starting at ``start_hour``; a zero limit gives no order."""
        out = []
        sell_wh = int(self.import_limit_w * interval_h)
        buy_wh = int(self.export_limit_w * interval_h)
        if sell_wh > 0:
            price = self.import_tariff_wei_per_wh(start_hour)
            out.append(Order(self.participant, Side.OFFER, sell_wh, price, time_s))
        if buy_wh > 0:
            out.append(Order(self.participant, Side.BID, buy_wh, self.feed_in_wei_per_wh, time_s))
        return out
