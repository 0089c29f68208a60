"""Register maps of the Modbus meters gridbench reads, from their datasheets.

PZEM-004T v3.0 (Peacefair, "PZEM-004T V3.0 user manual"): Modbus-RTU, 9600 baud 8N1,
function 0x04 reads ten input registers from 0x0000; 32-bit values are two registers,
**low word first**; function 0x42 resets the energy counter. It measures the magnitude
of the power only (no direction): its one energy counter counts both ways.

Eastron SDM120 / SDM630 (Eastron "SDM120 Modbus protocol" and "SDM630 Modbus protocol
V1.5"): function 0x04 input registers, each value an IEEE-754 float32 in two registers,
**high word first**; active power is signed (negative: export), energy in kWh.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

READ_INPUT = 0x04
"""Modbus function: read input registers."""
PZEM_RESET_ENERGY = 0x42
"""PZEM-004T's own function code: reset the energy counter (reply echoes it; 0xC2 error)."""


@dataclass(frozen=True)
class PzemRegisters:
    """PZEM-004T v3 input registers (address, scale of one count)."""

    voltage_0p1v: int = 0x0000
    current_low_1ma: int = 0x0001  # 32 bits: 0x0001 low word, 0x0002 high word
    power_low_0p1w: int = 0x0003  # 32 bits: 0x0003 low, 0x0004 high
    energy_low_1wh: int = 0x0005  # 32 bits: 0x0005 low, 0x0006 high
    frequency_0p1hz: int = 0x0007
    power_factor_0p01: int = 0x0008
    alarm: int = 0x0009  # 0xFFFF: power above the alarm threshold, 0x0000: not
    count: int = 10


PZEM = PzemRegisters()
PZEM_ALARM_ON = 0xFFFF
PZEM_HOLD_ALARM_THRESHOLD_W = 0x0001
"""PZEM holding register: power alarm threshold, 1 W per count."""
PZEM_HOLD_ADDRESS = 0x0002
"""PZEM holding register: its Modbus address (0x0001-0x00F7)."""


@dataclass(frozen=True)
class PzemValues:
    """One decoded PZEM measurement, in SI units."""

    voltage_v: float
    current_a: float
    power_w: float
    energy_wh: int
    frequency_hz: float
    power_factor: float
    alarm: bool


def pzem_u32(low: int, high: int) -> int:
    """A PZEM 32-bit value from its low and high registers."""
    return (high << 16) | low


def pzem_split_u32(value: int) -> tuple[int, int]:
    """(low, high) registers of a PZEM 32-bit value."""
    return value & 0xFFFF, (value >> 16) & 0xFFFF


def decode_pzem(regs: list[int]) -> PzemValues:
    """The ten input registers from 0x0000 as values."""
    r = PZEM
    return PzemValues(
        voltage_v=regs[r.voltage_0p1v] / 10,
        current_a=pzem_u32(regs[r.current_low_1ma], regs[r.current_low_1ma + 1]) / 1000,
        power_w=pzem_u32(regs[r.power_low_0p1w], regs[r.power_low_0p1w + 1]) / 10,
        energy_wh=pzem_u32(regs[r.energy_low_1wh], regs[r.energy_low_1wh + 1]),
        frequency_hz=regs[r.frequency_0p1hz] / 10,
        power_factor=regs[r.power_factor_0p01] / 100,
        alarm=regs[r.alarm] == PZEM_ALARM_ON,
    )


@dataclass(frozen=True)
class SdmRegister:
    """One float32 input register pair of an Eastron meter."""

    name: str
    address: int


# SDM120 (single phase).
SDM120 = {
    r.name: r
    for r in (
        SdmRegister("voltage_v", 0x0000),
        SdmRegister("current_a", 0x0006),
        SdmRegister("active_power_w", 0x000C),
        SdmRegister("apparent_power_va", 0x0012),
        SdmRegister("reactive_power_var", 0x0018),
        SdmRegister("power_factor", 0x001E),
        SdmRegister("frequency_hz", 0x0046),
        SdmRegister("import_energy_kwh", 0x0048),
        SdmRegister("export_energy_kwh", 0x004A),
        SdmRegister("total_energy_kwh", 0x0156),
    )
}

# SDM630 (three phase): per-phase values and the system totals.
SDM630 = {
    r.name: r
    for r in (
        SdmRegister("l1_voltage_v", 0x0000),
        SdmRegister("l2_voltage_v", 0x0002),
        SdmRegister("l3_voltage_v", 0x0004),
        SdmRegister("l1_current_a", 0x0006),
        SdmRegister("l2_current_a", 0x0008),
        SdmRegister("l3_current_a", 0x000A),
        SdmRegister("l1_power_w", 0x000C),
        SdmRegister("l2_power_w", 0x000E),
        SdmRegister("l3_power_w", 0x0010),
        SdmRegister("l1_power_factor", 0x001E),
        SdmRegister("l2_power_factor", 0x0020),
        SdmRegister("l3_power_factor", 0x0022),
        SdmRegister("average_voltage_v", 0x002A),
        SdmRegister("sum_current_a", 0x0030),
        SdmRegister("total_power_w", 0x0034),
        SdmRegister("total_power_factor", 0x003E),
        SdmRegister("frequency_hz", 0x0046),
        SdmRegister("import_energy_kwh", 0x0048),
        SdmRegister("export_energy_kwh", 0x004A),
        SdmRegister("total_energy_kwh", 0x0156),
    )
}

SDM_BLOCK = (0x0000, 0x50)
"""(first register, count) of one read covering everything but the total energy."""
SDM_TOTAL_BLOCK = (0x0156, 2)


def sdm_float(regs: list[int], offset: int) -> float:
    """The float32 at ``regs[offset]`` (high word first)."""
    return float(struct.unpack(">f", struct.pack(">HH", regs[offset], regs[offset + 1]))[0])


def sdm_registers(value: float) -> tuple[int, int]:
    """(high, low) registers of a float32."""
    high, low = struct.unpack(">HH", struct.pack(">f", value))
    return high, low


MODELS = ("pzem004t", "sdm120", "sdm630")
"""Meter models, the ``[meters] kind`` of each."""
