"""An in-process stand-in meter implementing :class:`Meter`, with no port at all.

For unit tests of code above the drivers (scenario, GUI). It passes the same
conformance suite as the real drivers (tests/meters/conformance/).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from bench.devices.reading import Calibration, Identity, Reading

_DEFAULT = Calibration()


class FakeMeter:
    """A meter whose power a test sets; energy integrates on ``clock`` (seconds).

    Readings are stamped with ``host_time_of(t)`` of the ``clock`` instant ``t`` their
    energy was integrated to (default ``t`` itself): under an accelerated scenario clock,
    energy follows simulated time while stamps stay on the host's, and a stamp is the
    very instant of its energy (two clocks read one after the other drift apart by a
    preemption, which at 3600x is Wh of a kW meter).
    """

    def __init__(
        self,
        meter_id: str = "fake-1",
        *,
        power_w: float = 0.0,
        voltage_v: float = 230.0,
        clock: Callable[[], float] = time.monotonic,
        host_time_of: Callable[[float], float] | None = None,
    ) -> None:
        self.url = f"fake://{meter_id}"
        self.meter_id = meter_id
        self.voltage_v = voltage_v
        self.relay_closed = True
        self.cal = Calibration()
        self._power_w = power_w
        self._clock = clock
        self._host_time_of = host_time_of
        self._host_t = 0.0
        self._t = clock()
        self._import_wh = 0.0
        self._export_wh = 0.0
        self._seq = 0
        self._stream_s = 0.0
        self._next_t = 0.0
        self.closed = False

    def set_power(self, power_w: float) -> None:
        """Truth handle: constant signed power from now on."""
        self._advance()
        self._power_w = power_w

    @property
    def power_w(self) -> float:
        """Truth handle: the signed power set, before the relay and calibration."""
        return self._power_w

    def energy_wh(self) -> tuple[float, float]:
        """Truth handle: (import, export) in Wh up to now."""
        self._advance()
        return self._import_wh, self._export_wh

    def identity(self, *, refresh: bool = False) -> Identity:
        """A fixed identity."""
        return Identity(self.meter_id, "fake", (1, 0, 0), (1, 0), (2, 6), 1, False, False)

    def read(self) -> Reading:
        """The reading now."""
        self._advance()
        gain = self._gain()
        p = self._power_w * gain if self.relay_closed else 0.0
        v = self.voltage_v * self.cal.v_gain_uv_per_count / _DEFAULT.v_gain_uv_per_count
        r = Reading(
            meter_id=self.meter_id,
            t_s=self._t if self._host_time_of is None else self._host_t,
            voltage_v=v,
            current_a=abs(p) / v if v else 0.0,
            power_w=p,
            power_factor=(1.0 if p > 0 else -1.0) if p else 0.0,
            frequency_hz=50.0,
            energy_import_wh=self._import_wh,
            energy_export_wh=self._export_wh,
            relay_closed=self.relay_closed,
            seq=self._seq,
            boot_count=1,
        )
        self._seq += 1
        return r

    def start_stream(self, interval_s: float) -> None:
        """Readings every ``interval_s`` through :meth:`next_readings`."""
        self._stream_s = interval_s
        self._next_t = time.monotonic() + interval_s

    def stop_stream(self) -> None:
        """Stop streaming."""
        self._stream_s = 0.0

    def next_readings(self, timeout_s: float) -> list[Reading]:
        """One reading when the interval is due (sleeping at most ``timeout_s``)."""
        if not self._stream_s:
            time.sleep(timeout_s)
            return []
        wait = self._next_t - time.monotonic()
        if wait > timeout_s:
            time.sleep(timeout_s)
            return []
        time.sleep(max(0.0, wait))
        self._next_t += self._stream_s
        return [self.read()]

    def set_relay(self, closed: bool) -> None:
        """Switch the relay."""
        self._advance()
        self.relay_closed = closed

    def calibration(self) -> Calibration:
        """The stored calibration."""
        return self.cal

    def set_calibration(self, cal: Calibration) -> None:
        """Store a calibration; gains scale the readings like a real meter's."""
        self._advance()
        self.cal = cal

    def close(self) -> None:
        """Mark closed."""
        self.closed = True

    def _gain(self) -> float:
        c = self.cal
        return (c.v_gain_uv_per_count / _DEFAULT.v_gain_uv_per_count) * (
            c.i_gain_ua_per_count / _DEFAULT.i_gain_ua_per_count
        )

    def _advance(self) -> None:
        now = self._clock()
        if self._host_time_of is not None:  # stamped with the same instant as the energy
            self._host_t = self._host_time_of(now)
        if self.relay_closed:
            wh = self._power_w * self._gain() * (now - self._t) / 3600
            if wh > 0:
                self._import_wh += wh
            else:
                self._export_wh -= wh
        self._t = now
