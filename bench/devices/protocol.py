"""The one meter capability every driver implements (real firmware, generic board, fakes)."""

from __future__ import annotations

from typing import Protocol

from bench.devices.reading import Calibration, Identity, Reading


class Meter(Protocol):
    """A connected meter. Not thread-safe: one thread (its poller) drives it."""

    url: str

    def identity(self, *, refresh: bool = False) -> Identity:
        """Who the meter is (cached unless ``refresh``)."""

    def read(self) -> Reading:
        """One fresh reading."""

    def start_stream(self, interval_s: float) -> None:
        """Deliver a reading every ``interval_s`` through :meth:`next_readings`."""

    def stop_stream(self) -> None:
        """Stop streaming."""

    def next_readings(self, timeout_s: float) -> list[Reading]:
        """Streamed readings that arrived within ``timeout_s``."""

    def set_relay(self, closed: bool) -> None:
        """Close or open the supply relay (authenticated where the meter supports it)."""

    def calibration(self) -> Calibration:
        """The current calibration."""

    def set_calibration(self, cal: Calibration) -> None:
        """Store a calibration."""

    def close(self) -> None:
        """Release the port; idempotent."""
