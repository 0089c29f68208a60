"""Emulated Modbus meters: the PZEM-004T v3 and the Eastron SDM120 / SDM630.

Each is a register bank over the same :class:`MeterPhysics` (and :class:`Eeprom`
counters) as the Firmata emulator, answering Modbus PDUs (function code + data, no
address or checksum: :mod:`bench.emulator.modbus_bus` frames them). The register maps
are :mod:`bench.devices.modbus_maps`, from the datasheets.
"""

from __future__ import annotations

import math
import struct
import threading
import time
from collections.abc import Callable

from bench.config import Faults
from bench.devices import modbus_maps as maps
from bench.emulator.device import Eeprom
from bench.emulator.physics import Measured, MeterPhysics, TruthHandles
from bench.emulator.profile import Profile
from bench.errors import ConfigError

ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
ILLEGAL_VALUE = 0x03
READ_HOLDING = 0x03
WRITE_SINGLE = 0x06


def exception_pdu(function: int, code: int) -> bytes:
    """A Modbus exception reply."""
    return bytes((function | 0x80, code))


class ModbusMeterDevice(TruthHandles):
    """One emulated Modbus meter at ``address`` on its bus (thread-safe)."""

    model = ""

    def __init__(
        self,
        meter_id: str,
        address: int,
        *,
        profile: Profile | None = None,
        power_w: float = 0.0,
        faults: Faults | None = None,
        sim_clock: Callable[[], float] = time.monotonic,
        seed: int | None = None,
    ) -> None:
        if not 1 <= address <= 247:
            raise ConfigError(f"Modbus address {address} of {meter_id!r} must be 1-247")
        self.meter_id = meter_id
        self.address = address
        self.faults = faults or Faults()
        self.eeprom = Eeprom(meter_id=meter_id)
        self.physics = MeterPhysics(
            self.eeprom, self.faults, sim_clock, profile=profile, power_w=power_w, seed=seed
        )
        self.lock = threading.RLock()
        self.requests = 0

    # -- truth handles (set_power, energy_wh, ...) -------------------------------------
    @property
    def relay_closed(self) -> bool:
        """These meters have no relay: the load is always connected."""
        return True

    def use_clock(self, sim_clock: Callable[[], float]) -> None:
        """Integrate on ``sim_clock`` from now on."""
        with self.lock:
            self.physics.use_clock(sim_clock)

    # -- protocol --------------------------------------------------------------------
    def handle(self, pdu: bytes) -> bytes:
        """The reply PDU to a request PDU."""
        with self.lock:
            self.requests += 1
            function = pdu[0]
            if function == maps.READ_INPUT and len(pdu) == 5:
                first, count = struct.unpack(">HH", pdu[1:5])
                regs = self.input_registers(first, count)
                if regs is None:
                    return exception_pdu(function, ILLEGAL_ADDRESS)
                return bytes((function, 2 * count)) + struct.pack(f">{count}H", *regs)
            return self.other(pdu)

    def input_registers(self, first: int, count: int) -> list[int] | None:
        """Input registers ``first`` … ``first + count - 1``, None if any is unmapped."""
        raise NotImplementedError

    def other(self, pdu: bytes) -> bytes:
        """Any other function: illegal unless a model knows it."""
        return exception_pdu(pdu[0], ILLEGAL_FUNCTION)


class Pzem004t(ModbusMeterDevice):
    """PZEM-004T v3: magnitudes only, one energy counter (Wh) the host can reset."""

    model = "pzem004t"

    def __init__(self, meter_id: str, address: int = 1, **kw: object) -> None:
        super().__init__(meter_id, address, **kw)  # type: ignore[arg-type]
        self.energy_offset_mwh = 0.0  # subtracted since the last reset (0x42)
        self.alarm_threshold_w = 23_000
        self.resets = 0

    def energy_wh(self) -> tuple[float, float]:
        """What the PZEM counts: |energy| both ways since its last reset, as import."""
        imp, exp = super().energy_wh()
        return imp + exp - self.energy_offset_mwh / 1000, 0.0

    def input_registers(self, first: int, count: int) -> list[int] | None:
        r = maps.PZEM
        if count < 1 or first + count > r.count:
            return None
        m = self.physics.measure()
        ee = self.eeprom
        energy_wh = int((ee.import_mwh + ee.export_mwh - self.energy_offset_mwh) // 1000)
        power_0p1w = round(abs(m.power_w) * 10)
        bank = [0] * r.count
        bank[r.voltage_0p1v] = round(m.voltage_v * 10)
        bank[r.current_low_1ma : r.current_low_1ma + 2] = maps.pzem_split_u32(
            round(m.current_a * 1000)
        )
        bank[r.power_low_0p1w : r.power_low_0p1w + 2] = maps.pzem_split_u32(power_0p1w)
        bank[r.energy_low_1wh : r.energy_low_1wh + 2] = maps.pzem_split_u32(energy_wh)
        bank[r.frequency_0p1hz] = round(m.frequency_hz * 10)
        bank[r.power_factor_0p01] = round(abs(m.power_factor) * 100)
        over = abs(m.power_w) > self.alarm_threshold_w
        bank[r.alarm] = maps.PZEM_ALARM_ON if over else 0
        return bank[first : first + count]

    def other(self, pdu: bytes) -> bytes:
        function = pdu[0]
        if function == maps.PZEM_RESET_ENERGY and len(pdu) == 1:
            self.physics.advance()
            self.energy_offset_mwh = self.eeprom.import_mwh + self.eeprom.export_mwh
            self.resets += 1
            return bytes((function,))
        if function == READ_HOLDING and len(pdu) == 5:
            first, count = struct.unpack(">HH", pdu[1:5])
            hold = {
                maps.PZEM_HOLD_ALARM_THRESHOLD_W: self.alarm_threshold_w,
                maps.PZEM_HOLD_ADDRESS: self.address,
            }
            regs = [hold.get(a) for a in range(first, first + count)]
            if count < 1 or None in regs:
                return exception_pdu(function, ILLEGAL_ADDRESS)
            return bytes((function, 2 * count)) + struct.pack(f">{count}H", *regs)
        if function == WRITE_SINGLE and len(pdu) == 5:
            register, value = struct.unpack(">HH", pdu[1:5])
            if register == maps.PZEM_HOLD_ALARM_THRESHOLD_W:
                self.alarm_threshold_w = value
            elif register == maps.PZEM_HOLD_ADDRESS and 1 <= value <= 247:
                self.address = value  # answers at the new address from the next request
            else:
                return exception_pdu(function, ILLEGAL_VALUE)
            return pdu
        return exception_pdu(function, ILLEGAL_FUNCTION)


class Sdm(ModbusMeterDevice):
    """Eastron SDM120 (one phase) or SDM630 (the load spread evenly over three)."""

    def __init__(self, meter_id: str, address: int = 1, *, model: str, **kw: object) -> None:
        if model not in ("sdm120", "sdm630"):
            raise ConfigError(f"unknown Eastron model {model!r}; use sdm120 or sdm630")
        super().__init__(meter_id, address, **kw)  # type: ignore[arg-type]
        self.model = model
        self._map = maps.SDM120 if model == "sdm120" else maps.SDM630

    def _values(self, m: Measured) -> dict[str, float]:
        ee = self.eeprom
        imp_kwh, exp_kwh = ee.import_mwh / 1e6, ee.export_mwh / 1e6
        common = {
            "frequency_hz": m.frequency_hz,
            "import_energy_kwh": imp_kwh,
            "export_energy_kwh": exp_kwh,
            "total_energy_kwh": imp_kwh + exp_kwh,
        }
        if self.model == "sdm120":
            va = m.voltage_v * m.current_a
            return common | {
                "voltage_v": m.voltage_v,
                "current_a": m.current_a,
                "active_power_w": m.power_w,
                "apparent_power_va": va,
                "reactive_power_var": math.sqrt(max(0.0, va * va - m.power_w**2)),
                "power_factor": m.power_factor,
            }
        phase_i = m.current_a / 3
        out = common | {
            "average_voltage_v": m.voltage_v,
            "sum_current_a": m.current_a,
            "total_power_w": m.power_w,
            "total_power_factor": m.power_factor,
        }
        for line in ("l1", "l2", "l3"):
            out |= {
                f"{line}_voltage_v": m.voltage_v,
                f"{line}_current_a": phase_i,
                f"{line}_power_w": m.power_w / 3,
                f"{line}_power_factor": m.power_factor,
            }
        return out

    def input_registers(self, first: int, count: int) -> list[int] | None:
        if count < 1 or first % 2 or count % 2:
            return None  # floats are read whole, from an even address
        values = self._values(self.physics.measure())
        by_address = {reg.address: values[name] for name, reg in self._map.items()}
        out: list[int] = []
        for address in range(first, first + count, 2):
            if address > 0x0158:
                return None
            out += maps.sdm_registers(by_address.get(address, 0.0))  # unmapped reads as 0
        return out


def modbus_device(model: str, meter_id: str, address: int, **kw: object) -> ModbusMeterDevice:
    """An emulated meter of ``model`` (``pzem004t``, ``sdm120``, ``sdm630``)."""
    if model == "pzem004t":
        return Pzem004t(meter_id, address, **kw)
    if model in ("sdm120", "sdm630"):
        return Sdm(meter_id, address, model=model, **kw)
    raise ConfigError(f"unknown Modbus meter model {model!r}; known: {', '.join(maps.MODELS)}")
