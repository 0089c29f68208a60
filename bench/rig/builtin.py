"""The built-in meter kinds and what each can do."""

from __future__ import annotations

from bench.rig import boards, emulated, fake, modbus, mqtt, simavr
from bench.rig.kinds import Capability, register_kind

C = Capability

register_kind(
    "firmata",
    capabilities={C.RELAY, C.SIGNING, C.CALIBRATION},
    start=boards.start_ports,
    open=boards.open_firmata,
)
register_kind(
    "generic",
    capabilities={C.RELAY},
    start=boards.start_ports,
    open=boards.open_generic,
    refine=boards.generic_capabilities,
)
register_kind(
    "emulated",
    capabilities={C.RELAY, C.SIGNING, C.CALIBRATION, C.LOAD_CONTROL},
    start=emulated.start_farm,
    open=emulated.open_on_pty,
)
register_kind(
    "simavr",
    capabilities={C.RELAY, C.SIGNING, C.CALIBRATION, C.LOAD_CONTROL},
    start=simavr.start_runners,
    open=simavr.open_simavr,
)
register_kind(
    "fake",
    capabilities={C.RELAY, C.CALIBRATION, C.LOAD_CONTROL},
    start=fake.start_fakes,
    open=fake.open_fake,
)
for _model in ("pzem004t", "sdm120", "sdm630"):
    register_kind(
        _model,
        capabilities={C.LOAD_CONTROL},
        start=modbus.start_buses,
        open=modbus.open_modbus,
        refine=modbus.modbus_capabilities,
    )
register_kind(
    "mqtt",
    capabilities={C.RELAY, C.SIGNING, C.CALIBRATION, C.LOAD_CONTROL},
    start=mqtt.start_mqtt,
    open=mqtt.open_mqtt,
)
