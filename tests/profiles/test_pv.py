"""The pvlib PV model at IIT (BHU) Varanasi, against hand-computed oracles.

Solar position from Spencer's (1971) declination and equation of time, air mass from
Kasten & Young (1989), clear-sky GHI from the Ineichen–Perez (2002) formula (with the
Linke turbidity pvlib ships, the model's input), the SAPM cell temperature and the
PVWatts DC and inverter equations (NREL PVWatts v5 manual, Dobos 2014) written out.
"""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import pytest

from bench.config import PvArrayConfig, SiteConfig
from bench.profiles.pv import ac_power_w, array_ac_w, dc_power_w, site_day

DATE = dt.date(2026, 5, 11)
SITE = SiteConfig(step_s=60.0, cloud_cover=0.0)  # the default site, clear sky, 1-min steps


def spencer(doy: int) -> tuple[float, float, float]:
    """(declination °, equation of time min, extraterrestrial W/m²) for day of year."""
    b = 2 * math.pi * (doy - 1) / 365
    decl = (
        0.006918
        - 0.399912 * math.cos(b)
        + 0.070257 * math.sin(b)
        - 0.006758 * math.cos(2 * b)
        + 0.000907 * math.sin(2 * b)
        - 0.002697 * math.cos(3 * b)
        + 0.00148 * math.sin(3 * b)
    )
    eot = 229.18 * (
        0.000075
        + 0.001868 * math.cos(b)
        - 0.032077 * math.sin(b)
        - 0.014615 * math.cos(2 * b)
        - 0.040849 * math.sin(2 * b)
    )
    e0 = (
        1.00011
        + 0.034221 * math.cos(b)
        + 0.00128 * math.sin(b)
        + 0.000719 * math.cos(2 * b)
        + 0.000077 * math.sin(2 * b)
    )
    return math.degrees(decl), eot, 1366.1 * e0


def hand_noon() -> tuple[float, float, float]:
    """(solar noon in local seconds, zenith °, Ineichen GHI W/m²) on DATE at the site."""
    import pandas as pd
    import pvlib  # only for the Linke turbidity climatology: the model's input data

    decl, eot_min, i0 = spencer(DATE.timetuple().tm_yday)
    # IST is UTC+5:30, a standard meridian of 82.5° E: 4 minutes per degree east of it
    noon_s = (12 * 60 - 4 * (SITE.longitude_deg - 82.5) - eot_min) * 60
    zenith = abs(SITE.latitude_deg - decl)
    h = SITE.altitude_m
    am_rel = 1 / (math.cos(math.radians(zenith)) + 0.50572 * (96.07995 - zenith) ** -1.6364)
    pressure = 101325 * (1 - 2.25577e-5 * h) ** 5.25588
    am = am_rel * pressure / 101325
    stamp = pd.DatetimeIndex([f"{DATE} 12:00"]).tz_localize(SITE.timezone)
    lookup = pvlib.clearsky.lookup_linke_turbidity(stamp, SITE.latitude_deg, SITE.longitude_deg)
    tl = float(lookup.iloc[0])
    cg1, cg2 = 5.09e-5 * h + 0.868, 3.92e-5 * h + 0.0387
    fh1, fh2 = math.exp(-h / 8000), math.exp(-h / 1250)
    ghi = cg1 * i0 * math.cos(math.radians(zenith)) * math.exp(-cg2 * am * (fh1 + fh2 * (tl - 1)))
    return noon_s, zenith, ghi


def test_solar_noon_and_clear_sky_match_the_hand_formulas() -> None:
    sky = site_day(SITE, DATE)
    noon_s, zenith, ghi = hand_noon()
    k = int(np.argmin(sky.zenith_deg))
    assert abs(sky.times_s[k] - noon_s) <= 120  # solar noon within 2 minutes
    # Spencer's series drifts with the leap-year cycle: 0.23° from the SPA on this date
    assert sky.zenith_deg[k] == pytest.approx(zenith, abs=0.35)
    at_noon = np.interp(noon_s, sky.times_s, sky.clear_ghi_w_m2)
    assert at_noon == pytest.approx(ghi, rel=0.01)
    assert 900 < ghi < 1100  # a clear May noon in Varanasi
    night = (sky.times_s < 4 * 3600) | (sky.times_s > 20 * 3600)
    assert np.all(sky.clear_ghi_w_m2[night] == 0)


def test_a_horizontal_array_at_clear_noon_follows_the_hand_pipeline() -> None:
    array = PvArrayConfig("roof", kwp=10.0, tilt_deg=0.0, inverter_kw=9.0)
    sky = site_day(SITE, DATE)
    ac = array_ac_w(array, SITE, sky)
    noon_s, _, ghi = hand_noon()
    # a horizontal plane sees GHI; SAPM close-mount glass/glass: a = -2.98, b = -0.0471, dT = 1
    temp_air = SITE.temp_air_mean_c + SITE.temp_air_swing_c * math.cos(
        2 * math.pi * (noon_s / 3600 - 15) / 24
    )
    t_module = ghi * math.exp(-2.98 - 0.0471 * SITE.wind_speed_m_s) + temp_air
    t_cell = t_module + ghi / 1000 * 1.0
    pdc = 10_000 * ghi / 1000 * (1 - 0.0037 * (t_cell - 25)) * (1 - 0.14)
    pdc0 = 9000 / 0.96
    zeta = pdc / pdc0
    pac = min(0.96 / 0.9637 * (-0.0162 * zeta - 0.0059 / zeta + 0.9858) * pdc, 9000)
    assert np.interp(noon_s, sky.times_s, ac) == pytest.approx(pac, rel=0.012)
    assert ac.max() <= 9000
    assert ac[0] == 0 and ac[-1] == 0


def test_pvwatts_dc_and_inverter_on_a_hand_computed_case() -> None:
    array = PvArrayConfig(
        "roof", kwp=10.0, inverter_kw=8.0, gamma_pdc_per_c=-0.004, losses_fraction=0.14
    )
    dc = dc_power_w(array, np.array([800.0, 1100.0, 0.0]), np.array([45.0, 25.0, 25.0]))
    # 10 kW × 0.8 × (1 − 0.004 × 20) × 0.86 = 6329.6 W; 10 kW × 1.1 × 0.86 = 9460 W
    assert dc == pytest.approx([6329.6, 9460.0, 0.0], abs=1e-9)
    ac = ac_power_w(array, dc)
    # PVWatts inverter, pdc0 = 8000 / 0.96 = 8333.33 W: zeta = 0.759552, eta = 0.962020
    assert ac[0] == pytest.approx(6329.6 * 0.9620197, rel=1e-6)
    assert ac[1] == 8000.0  # clipped at the inverter's AC limit
    assert ac[2] == 0.0


def test_the_default_inverter_is_sized_at_pvwatts_dc_ac_ratio() -> None:
    assert PvArrayConfig("roof", kwp=12.0).inverter_ac_w == pytest.approx(10_000.0)


def test_a_tilted_south_array_yields_more_than_a_north_one_in_may() -> None:
    sky = site_day(SiteConfig(cloud_cover=0.0), DATE)
    south = array_ac_w(PvArrayConfig("r", kwp=5.0, tilt_deg=25.0, azimuth_deg=180.0), SITE, sky)
    north = array_ac_w(PvArrayConfig("r", kwp=5.0, tilt_deg=25.0, azimuth_deg=0.0), SITE, sky)
    # the May sun at 25° N stands near the zenith at noon: south wins, but not by much
    assert 1.0 < south.sum() / north.sum() < 1.3
