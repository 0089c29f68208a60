"""Rooftop PV with pvlib: one array's AC power over one simulated day at the site.

Clear sky: Ineichen–Perez with the Linke turbidity climatology pvlib ships, on pvlib's
solar position; clouds scale GHI (:mod:`bench.profiles.clouds`), Erbs splits it into
beam and diffuse, the isotropic sky model transposes it onto the panel; the SAPM cell
temperature (close-mounted glass/glass, rooftop) feeds PVWatts DC with its temperature
coefficient and DC losses, and the PVWatts inverter (efficiency curve, AC limit) gives AC.
"""

from __future__ import annotations

import datetime as dt
import functools
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from bench.config import PvArrayConfig, SiteConfig

if TYPE_CHECKING:
    import pandas as pd

DAY_S = 86_400.0
ROOFTOP_MOUNT = "close_mount_glass_glass"
"""SAPM cell temperature parameters for panels mounted close to a roof."""


@dataclass(frozen=True)
class SiteDay:
    """The sky over the site for one day, shared by every array there."""

    times_s: np.ndarray
    """Seconds after local midnight, from 0 to 86 400 inclusive."""
    zenith_deg: np.ndarray
    azimuth_deg: np.ndarray
    clear_ghi_w_m2: np.ndarray
    ghi_w_m2: np.ndarray
    dni_w_m2: np.ndarray
    dhi_w_m2: np.ndarray
    temp_air_c: np.ndarray


def _times(site: SiteConfig, date: dt.date) -> pd.DatetimeIndex:
    import pandas as pd

    n = round(DAY_S / site.step_s) + 1
    start = pd.Timestamp(date.isoformat()).tz_localize(site.timezone)
    return pd.DatetimeIndex([start + pd.Timedelta(seconds=k * site.step_s) for k in range(n)])


@functools.lru_cache(maxsize=16)
def site_day(site: SiteConfig, date: dt.date) -> SiteDay:
    """Solar position, clear-sky and cloudy irradiance and air temperature over ``date``
    (kept for the site's other arrays)."""
    import pvlib

    from bench.profiles.clouds import cloud_cover, cloudy_ghi

    times = _times(site, date)
    location = pvlib.location.Location(
        site.latitude_deg, site.longitude_deg, tz=site.timezone, altitude=site.altitude_m
    )
    solpos = location.get_solarposition(times)
    clear = location.get_clearsky(times, model="ineichen", solar_position=solpos)
    clear_ghi = clear["ghi"].to_numpy()
    offsets_s = np.arange(len(times)) * site.step_s
    cover = cloud_cover(
        date,
        len(times),
        site.step_s,
        mean=site.cloud_cover,
        timescale_s=site.cloud_timescale_s,
        seed=site.cloud_seed,
    )
    ghi = cloudy_ghi(clear_ghi, cover)
    zenith = solpos["zenith"].to_numpy()
    split = pvlib.irradiance.erbs(ghi, zenith, times)
    temp_air = site.temp_air_mean_c + site.temp_air_swing_c * np.cos(
        2 * np.pi * (offsets_s / 3600.0 - 15.0) / 24.0
    )
    return SiteDay(
        times_s=offsets_s,
        zenith_deg=zenith,
        azimuth_deg=solpos["azimuth"].to_numpy(),
        clear_ghi_w_m2=clear_ghi,
        ghi_w_m2=ghi,
        dni_w_m2=np.asarray(split["dni"], dtype=float),
        dhi_w_m2=np.asarray(split["dhi"], dtype=float),
        temp_air_c=temp_air,
    )


def plane_of_array_w_m2(array: PvArrayConfig, sky: SiteDay, albedo: float) -> np.ndarray:
    """Irradiance on the panel (isotropic sky, ground reflection)."""
    import pvlib

    poa = pvlib.irradiance.get_total_irradiance(
        array.tilt_deg,
        array.azimuth_deg,
        sky.zenith_deg,
        sky.azimuth_deg,
        sky.dni_w_m2,
        sky.ghi_w_m2,
        sky.dhi_w_m2,
        albedo=albedo,
    )["poa_global"]
    return np.nan_to_num(np.asarray(poa, dtype=float).clip(min=0.0))


def cell_temperature_c(poa_w_m2: np.ndarray, temp_air_c: np.ndarray, wind_m_s: float) -> np.ndarray:
    """SAPM cell temperature of a rooftop (close-mounted) module."""
    import pvlib

    params = pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"][ROOFTOP_MOUNT]
    return np.asarray(pvlib.temperature.sapm_cell(poa_w_m2, temp_air_c, wind_m_s, **params))


def dc_power_w(array: PvArrayConfig, poa_w_m2: np.ndarray, cell_c: np.ndarray) -> np.ndarray:
    """PVWatts DC power after the array's DC losses."""
    import pvlib

    pdc0_w = array.kwp * 1000.0
    dc = pvlib.pvsystem.pvwatts_dc(poa_w_m2, cell_c, pdc0_w, array.gamma_pdc_per_c)
    return np.asarray(dc, dtype=float) * (1.0 - array.losses_fraction)


def ac_power_w(array: PvArrayConfig, dc_w: np.ndarray) -> np.ndarray:
    """PVWatts inverter: its efficiency curve, limited to the inverter's AC rating."""
    import pvlib

    pdc0_inverter_w = array.inverter_ac_w / array.inverter_efficiency
    ac = pvlib.inverter.pvwatts(dc_w, pdc0_inverter_w, eta_inv_nom=array.inverter_efficiency)
    return np.asarray(ac, dtype=float).clip(min=0.0)


def array_ac_w(array: PvArrayConfig, site: SiteConfig, sky: SiteDay) -> np.ndarray:
    """One array's AC power (W, ≥ 0) at each of the day's ``sky.times_s``."""
    poa = plane_of_array_w_m2(array, sky, site.albedo)
    cell = cell_temperature_c(poa, sky.temp_air_c, site.wind_speed_m_s)
    return ac_power_w(array, dc_power_w(array, poa, cell))
