"""Generated power profiles for emulated meters: pvlib PV arrays and calendar-aware loads.

``pv`` (rooftop arrays at the ``[site]``, clear sky times ``clouds``, cell temperature,
PVWatts DC and inverter, cached per config in ``cache``), ``loads`` (campus buildings on
term and vacation days, city households, shops, a clinic) and ``meter`` (one meter's
signed power over a simulated day: loads import, arrays export).
"""

from bench.profiles.meter import MeterDays, meter_days

__all__ = ["MeterDays", "meter_days"]
