"""Boards on serial ports: the project's firmware (``firmata``) and StandardFirmata
boards with analog sensors (``generic``). The rig starts nothing for them; it finds the
ports (``port = "auto"`` by identity)."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import replace

from bench.config import BenchConfig, MeterConfig
from bench.devices.discovery import resolve_ports
from bench.devices.firmata_meter import FirmataMeter
from bench.devices.generic import GenericFirmataMeter
from bench.devices.keystore import refuse_default_key, relay_key
from bench.devices.protocol import Meter
from bench.errors import ConfigError
from bench.rig.kinds import Capability, MeterSite, SimTime


def start_ports(
    stack: contextlib.ExitStack, meters: Sequence[MeterConfig], bench: BenchConfig, _: SimTime
) -> dict[str, MeterSite]:
    """The port of every board; ``auto`` ones are probed by identity."""
    ports = resolve_ports(replace(bench, meters=tuple(meters)))
    return {meter_id: MeterSite(url) for meter_id, url in ports.items()}


def open_firmata(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    """The project's firmware on a board (it resets on open: ``reset_wait_s``), with the
    relay key of its keystore file; a board still on the default key is refused unless
    the config allows it."""
    driver = FirmataMeter.open(
        site.url,
        baud=bench.baud,
        key=relay_key(meter),
        reset_wait_s=bench.reset_wait_s,
        backend=bench.backend,
    )
    try:
        refuse_default_key(meter, site.url, driver.identity().key_provisioned)
    except ConfigError:
        driver.close()
        raise
    return driver


def open_generic(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    """A StandardFirmata board read through its analog pins."""
    if meter.generic is None:
        raise ConfigError(f"meter {meter.meter_id!r}: a generic board needs [meters.generic]")
    return GenericFirmataMeter.open(
        site.url,
        meter.meter_id,
        meter.generic,
        baud=bench.baud,
        reset_wait_s=bench.reset_wait_s,
        backend=bench.backend,
    )


def generic_capabilities(meter: MeterConfig) -> frozenset[Capability]:
    """A generic board switches a relay only when a relay pin is configured."""
    has_relay = meter.generic is not None and meter.generic.relay_pin is not None
    return frozenset({Capability.RELAY}) if has_relay else frozenset()
