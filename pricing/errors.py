"""Errors raised by :mod:`pricing`; each says what happened and what to do next."""

from __future__ import annotations


class PricingError(ValueError):
    """A pricing computation cannot give a trustworthy result."""


class PricingInputError(PricingError):
    """An order, book, forecast or model parameter is invalid."""
