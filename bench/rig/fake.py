"""The ``fake`` kind: the in-process :class:`FakeMeter`, no port at all."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from bench.config import BenchConfig, MeterConfig
from bench.devices.fake import FakeMeter
from bench.devices.protocol import Meter
from bench.errors import ConfigError
from bench.rig.kinds import MeterSite, SimTime


class FakeLoad:
    """Load control of a fake meter: its power setpoint."""

    def __init__(self, meter: FakeMeter) -> None:
        self._meter = meter
        self._base_w = meter.power_w

    def true_power_w(self) -> float:
        """The set power, 0 while the relay is open."""
        return self._meter.power_w if self._meter.relay_closed else 0.0

    def set_power(self, power_w: float) -> None:
        """Hold a constant power."""
        self._meter.set_power(power_w)

    def scale(self, factor: float) -> None:
        """Scale the configured power."""
        self._meter.set_power(self._base_w * factor)


def start_fakes(
    stack: contextlib.ExitStack, meters: Sequence[MeterConfig], bench: BenchConfig, sim: SimTime
) -> dict[str, MeterSite]:
    """A fake per meter, integrating energy on the scenario's clock."""
    sites = {}
    for m in meters:
        if m.profile:
            raise ConfigError(f"meter {m.meter_id!r}: a fake meter takes power_w, not a profile")
        fake = FakeMeter(
            m.meter_id, power_w=m.power_w, clock=sim.now_s, host_time_of=sim.real_time_of
        )
        sites[m.meter_id] = MeterSite(fake.url, FakeLoad(fake), driver=fake)
    return sites


def open_fake(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    """The started fake itself."""
    if site.driver is None:
        raise ConfigError(f"fake meter {meter.meter_id!r} was not started by a rig")
    return site.driver
