"""The one error hierarchy of gridbench.

Every error a user can meet derives from :class:`BenchError`, and every message
says what happened and what to do next.
"""

from __future__ import annotations


class BenchError(Exception):
    """Base of every gridbench error."""


class ConfigError(BenchError):
    """A bench config, a CLI argument or a profile is invalid."""


class TransportError(BenchError):
    """A serial port, pseudo-terminal or socket failed or is missing."""


class LinkSilentError(TransportError):
    """A meter did not answer in time although its port works: a stall, not an I/O
    error (the poller keeps the port open: reopening resets a real Uno)."""


class DeviceError(BenchError):
    """A meter answered wrongly: bad frame, wrong firmware, refused command."""


class ChainError(BenchError):
    """The chain is unreachable, misconfigured, or a transaction reverted."""

    def __init__(self, message: str, *, error_name: str | None = None) -> None:
        super().__init__(message)
        self.error_name = error_name


class ToolMissingError(BenchError):
    """A required external tool (anvil, forge, avr-gcc, simavr) is not installed."""
