"""Commissioning a gridmeter: the steps ``gridbench meter`` and the panel's dialog share.

Each step takes an open :class:`FirmataMeter` and returns what it found or did, in units
in the field names; the callers print or show it. Keys never appear in the results, only
their fingerprints.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

from bench.devices.firmata_meter import FirmataMeter
from bench.devices.keystore import fingerprint, write_key_file
from bench.devices.reading import Calibration, Identity, Reading
from bench.errors import ConfigError, DeviceError

FLAG_NAMES = ("relay key provisioned", "calibrated", "signing key present")


@dataclass(frozen=True)
class MeterInfo:
    """Who the meter is and how it is set up."""

    identity: Identity
    calibration: Calibration
    signer_address: str | None  # None: no signing key yet

    @property
    def flags(self) -> list[str]:
        i = self.identity
        on = (i.key_provisioned, i.calibrated, i.signing_key)
        return [n for n, set_ in zip(FLAG_NAMES, on, strict=True) if set_]


def read_info(meter: FirmataMeter) -> MeterInfo:
    """Identity, calibration and signing address (None without a signing key)."""
    ident = meter.identity(refresh=True)
    address = meter.signer_address() if ident.signing_key else None
    return MeterInfo(ident, meter.calibration(), address)


@dataclass(frozen=True)
class Provisioned:
    """What :func:`provision` changed."""

    old_meter_id: str
    meter_id: str
    keystore: Path
    key_fingerprint: str
    signer_address: str


def provision(
    meter: FirmataMeter,
    meter_id: str,
    keystore: Path,
    *,
    replace_keystore: bool = False,
    timeout_s: float = 5.0,
) -> Provisioned:
    """Set the meter id, a fresh relay key (written to ``keystore``, mode 0600, before
    the meter takes it; removed again if the meter refuses it) and a fresh signing key
    with host entropy mixed in."""
    before = meter.identity(refresh=True)
    if before.meter_id != meter_id:
        meter.set_meter_id(meter_id)
    new_key = os.urandom(32)
    write_key_file(keystore, new_key, replace=replace_keystore)
    try:
        meter.set_key(new_key)
    except BaseException:
        keystore.unlink()
        raise
    address = meter.new_signing_key(timeout_s=max(timeout_s, 5.0))
    return Provisioned(before.meter_id, meter_id, keystore, fingerprint(new_key), address)


@dataclass(frozen=True)
class Calibrated:
    """Gains before and after, the readings they came from and the check against the
    same reference."""

    before: Calibration
    after: Calibration
    read_v: float
    read_a: float
    check_v: float
    check_a: float
    reference_v: float
    reference_a: float

    @property
    def check_error_fraction(self) -> tuple[float, float]:
        return self.check_v / self.reference_v - 1, self.check_a / self.reference_a - 1


def mean_reading(meter: FirmataMeter, n: int, interval_s: float) -> tuple[float, float]:
    """Mean (Vrms, Irms) of ``n`` readings ``interval_s`` apart."""
    readings: list[Reading] = []
    for _ in range(n):
        time.sleep(interval_s)
        readings.append(meter.read())
    return sum(r.voltage_v for r in readings) / n, sum(r.current_a for r in readings) / n


def calibrate(
    meter: FirmataMeter,
    reference_v: float,
    reference_a: float,
    *,
    readings: int = 5,
    interval_s: float = 1.0,
) -> Calibrated:
    """Scale the gains so the meter reads the reference, store them, read again."""
    if reference_v <= 0 or reference_a <= 0:
        raise ConfigError("the reference's RMS voltage and current must both be above 0")
    before = meter.calibration()
    v, i = mean_reading(meter, readings, interval_s)
    if v <= 0 or i <= 0:
        raise DeviceError(
            f"meter on {meter.url} reads {v:.3f} V, {i:.4f} A: no signal to calibrate "
            "against; connect the reference source (and close the relay) and retry"
        )
    after = replace(
        before,
        v_gain_uv_per_count=round(before.v_gain_uv_per_count * reference_v / v),
        i_gain_ua_per_count=round(before.i_gain_ua_per_count * reference_a / i),
    )
    meter.set_calibration(after)
    v2, i2 = mean_reading(meter, readings, interval_s)
    return Calibrated(before, after, v, i, v2, i2, reference_v, reference_a)


def calibration_text(cal: Calibration) -> str:
    """One line for people."""
    return (
        f"calibration: {cal.v_gain_uv_per_count} µV/count, {cal.i_gain_ua_per_count} µA/count, "
        f"offsets {cal.v_offset_counts}/{cal.i_offset_counts} counts, "
        f"phase {cal.phase_cdeg / 100:.2f}°"
    )
