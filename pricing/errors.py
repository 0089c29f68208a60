"""Errors raised by :mod:`pricing`; each is a :class:`ValueError` that says what to fix."""

from __future__ import annotations


class PricingInputError(ValueError):
    """An order, book, forecast or model parameter is invalid."""
