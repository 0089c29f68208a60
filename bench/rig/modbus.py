"""The Modbus kinds ``pzem004t``, ``sdm120``, ``sdm630``: real meters on a port, or
emulated ones on buses the rig starts (one :class:`ModbusBus` per configured bus name).

No relay and no signing: the bench attests their readings ("attested by bench").
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence

from bench.config import BenchConfig, MeterConfig
from bench.config.model import ModbusConfig
from bench.devices.modbus_meter import ModbusMeter
from bench.devices.protocol import Meter
from bench.emulator.modbus_bus import ModbusBus
from bench.emulator.modbus_device import modbus_device
from bench.emulator.profile import Profile
from bench.errors import ConfigError
from bench.rig.emulated import TruthLoad
from bench.rig.kinds import Capability, MeterSite, SimTime


def _modbus(meter: MeterConfig) -> ModbusConfig:
    return meter.modbus or ModbusConfig()


_BUSES: dict[int, dict[str, ModbusBus]] = {}
"""The emulated buses of each running rig (by its exit stack): the rig starts each kind
on its own, and a PZEM and an SDM may share one bus."""


def start_buses(
    stack: contextlib.ExitStack, meters: Sequence[MeterConfig], bench: BenchConfig, time: SimTime
) -> dict[str, MeterSite]:
    """Real meters answer on their port; emulated ones join their bus (started here)."""
    if id(stack) not in _BUSES:
        _BUSES[id(stack)] = {}
        stack.callback(_BUSES.pop, id(stack), None)
    buses = _BUSES[id(stack)]
    sites: dict[str, MeterSite] = {}
    for i, m in enumerate(meters):
        if m.port:
            sites[m.meter_id] = MeterSite(m.port)
            continue
        cfg = _modbus(m)
        bus = buses.get(cfg.bus)
        if bus is None:
            bus = ModbusBus(tcp=cfg.transport == "tcp", seed=bench.seed + i)
            buses[cfg.bus] = stack.enter_context(bus)
        elif bus.tcp != (cfg.transport == "tcp"):
            raise ConfigError(
                f"meter {m.meter_id!r}: bus {cfg.bus!r} is already {'tcp' if bus.tcp else 'rtu'}; "
                "meters on one bus share its transport"
            )
        device = modbus_device(
            m.kind,
            m.meter_id,
            cfg.address,
            profile=Profile.parse(m.profile) if m.profile else None,
            power_w=m.power_w,
            faults=m.faults,
            sim_clock=time.now_s,
            seed=bench.seed + i,
        )
        bus.add(device)
        sites[m.meter_id] = MeterSite(bus.url, TruthLoad(device, m))
    return sites


def modbus_capabilities(meter: MeterConfig) -> frozenset[Capability]:
    """An emulated meter's load is the bench's; a real one's is not."""
    return frozenset() if meter.port else frozenset({Capability.LOAD_CONTROL})


def open_modbus(meter: MeterConfig, bench: BenchConfig, site: MeterSite) -> Meter:
    """The pymodbus driver on the meter's line, at its address."""
    cfg = _modbus(meter)
    return ModbusMeter.open(site.url, meter.meter_id, meter.kind, cfg.address, baud=cfg.baud)
