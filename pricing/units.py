"""The one unit convention a person reads: LABC and LABC/kWh (JSON keeps wei and wei/Wh).

Every message, table and plot a person reads (the audit's findings, the CLI, the panel,
the reports) formats money and prices with these functions.

LabCredit has 6 decimals: 1 LABC = 10⁶ wei, so a price of ``p`` wei/Wh is
``p × 1000 Wh/kWh / 10⁶`` = ``p / 1000`` LABC/kWh. Integer amounts are formatted exactly
(integer arithmetic, no float rounding).
"""

from __future__ import annotations

WEI_PER_LABC = 10**6
WH_PER_KWH = 1000


def _fixed(numerator: int, denominator: int, decimals: int) -> str:
    sign = "-" if numerator < 0 else ""
    whole, rest = divmod(abs(numerator), denominator)
    return f"{sign}{whole}.{rest * 10**decimals // denominator:0{decimals}d}"


def labc(value_wei: int) -> str:
    """An amount in LABC, exact: ``1234567`` wei → ``"1.234567"``."""
    return _fixed(int(value_wei), WEI_PER_LABC, 6)


def labc_per_kwh(price_wei_per_wh: int | float | None) -> str:
    """A price in LABC/kWh: ``85`` wei/Wh → ``"0.085"`` (``"-"`` when there is none)."""
    if price_wei_per_wh is None or price_wei_per_wh != price_wei_per_wh:  # None or NaN
        return "-"
    if float(price_wei_per_wh).is_integer():
        return _fixed(int(price_wei_per_wh), WEI_PER_LABC // WH_PER_KWH, 3)
    return f"{price_wei_per_wh / 1000:.4f}"


def to_labc_per_kwh(price_wei_per_wh: float) -> float:
    """A price for plotting, in LABC/kWh."""
    return price_wei_per_wh * WH_PER_KWH / WEI_PER_LABC
