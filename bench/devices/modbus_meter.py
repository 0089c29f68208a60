"""Drivers for Modbus meters (PZEM-004T v3, Eastron SDM120 / SDM630) over pymodbus.

A line (:class:`ModbusLine`) is one serial RS-485 bus (Modbus-RTU, a device path) or one
Modbus-TCP server (``tcp://host:port``); several meters share it by address, and one
lock makes their requests take turns, as a half-duplex bus must. These meters have no
relay, cannot sign, and have no identity on the wire: the bench names them from its
config and attests their readings itself ("attested by bench").
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusException
from pymodbus.pdu import ModbusPDU

from bench.devices import modbus_maps as maps
from bench.devices.reading import Calibration, Identity, Reading
from bench.errors import ConfigError, DeviceError, TransportError

MODEL_NAMES = {"pzem004t": "PZEM-004T v3", "sdm120": "Eastron SDM120", "sdm630": "Eastron SDM630"}


class PzemResetEnergy(ModbusPDU):
    """The PZEM's function 0x42: reset the energy counter (no data either way)."""

    function_code = maps.PZEM_RESET_ENERGY
    rtu_frame_size = 4

    def encode(self) -> bytes:
        """No data."""
        return b""

    def decode(self, data: bytes) -> None:
        """No data."""


class ModbusLine:
    """One Modbus line shared by the meters on it (reference-counted by :func:`line`)."""

    def __init__(self, url: str, *, baud: int = 9600, timeout_s: float = 0.5) -> None:
        self.url = url
        self.lock = threading.Lock()
        self.users = 0
        parsed = urlparse(url)
        client: Any
        if parsed.scheme == "tcp":
            if parsed.hostname is None or parsed.port is None:
                raise ConfigError(f"Modbus URL {url!r}: write tcp://HOST:PORT")
            client = ModbusTcpClient(
                parsed.hostname, port=parsed.port, timeout=timeout_s, retries=1
            )
        else:
            client = ModbusSerialClient(
                url, baudrate=baud, bytesize=8, parity="N", stopbits=1, timeout=timeout_s, retries=1
            )
        client.register(PzemResetEnergy)
        self.client = client
        if not client.connect():
            raise TransportError(
                f"cannot open the Modbus line {url}; check the device path or the server's "
                "address, and that no other program holds the port"
            )

    def read_input(self, address: int, first: int, count: int) -> list[int]:
        """Input registers of the meter at ``address``; TransportError without a reply."""
        with self.lock:
            try:
                reply = self.client.read_input_registers(first, count=count, device_id=address)
            except ModbusException as exc:
                raise TransportError(
                    f"Modbus meter {address} on {self.url} did not answer ({exc}); check its "
                    "address, the bus wiring and the baud rate"
                ) from exc
        if reply.isError():
            raise DeviceError(
                f"Modbus meter {address} on {self.url} refused to read registers "
                f"{first:#06x}+{count} ({reply}); is it the model configured?"
            )
        return list(reply.registers)

    def execute(self, request: ModbusPDU) -> ModbusPDU:
        """Send a request PDU and return the reply."""
        with self.lock:
            try:
                reply: ModbusPDU = self.client.execute(False, request)
            except ModbusException as exc:
                raise TransportError(f"Modbus request on {self.url} failed: {exc}") from exc
        return reply

    def close(self) -> None:
        """Close the client."""
        self.client.close()


_LINES: dict[str, ModbusLine] = {}
_LINES_LOCK = threading.Lock()


def line(url: str, *, baud: int = 9600) -> ModbusLine:
    """The shared line at ``url`` (opened on first use); release it with :func:`release`."""
    with _LINES_LOCK:
        found = _LINES.get(url)
        if found is None:
            found = _LINES[url] = ModbusLine(url, baud=baud)
        found.users += 1
        return found


def release(shared: ModbusLine) -> None:
    """One user less; the last one closes the line."""
    with _LINES_LOCK:
        shared.users -= 1
        if shared.users <= 0 and _LINES.get(shared.url) is shared:
            del _LINES[shared.url]
            shared.close()


class ModbusMeter:
    """A :class:`Meter` for one PZEM-004T or SDM120/SDM630 at ``address`` on a line."""

    def __init__(
        self,
        shared: ModbusLine,
        meter_id: str,
        model: str,
        address: int,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if model not in maps.MODELS:
            raise ConfigError(f"unknown Modbus model {model!r}; known: {', '.join(maps.MODELS)}")
        self.line = shared
        self.url = f"{shared.url}#{address}"
        self.meter_id = meter_id
        self.model = model
        self.address = address
        self._clock = clock
        self._seq = 0
        self._stream_s = 0.0
        self._next_t = 0.0
        self._energy_base_wh = 0  # PZEM: counts before its last reset (keeps readings monotonic)
        self._closed = False

    @classmethod
    def open(
        cls, url: str, meter_id: str, model: str, address: int, *, baud: int = 9600
    ) -> ModbusMeter:
        """Open (or share) the line and check the meter answers."""
        meter = cls(line(url, baud=baud), meter_id, model, address)
        try:
            meter.read()
        except BaseException:
            meter.close()
            raise
        return meter

    def identity(self, *, refresh: bool = False) -> Identity:
        """The configured id and the model (Modbus meters carry no identity)."""
        return Identity(
            self.meter_id, MODEL_NAMES[self.model], (0, 0, 0), (0, 0), (0, 0), 0, False, False
        )

    def read(self) -> Reading:
        """Read the measurement registers once."""
        if self.model == "pzem004t":
            return self._read_pzem()
        return self._read_sdm()

    def _reading(self, t_s: float, **values: float) -> Reading:
        self._seq += 1
        return Reading(
            meter_id=self.meter_id,
            t_s=t_s,
            relay_closed=True,
            seq=self._seq,
            boot_count=0,
            **values,  # type: ignore[arg-type]
        )

    def _timed_read(self, first: int, count: int) -> tuple[float, list[int]]:
        """Registers and when the meter measured them: midway through the exchange."""
        t0 = self._clock()
        regs = self.line.read_input(self.address, first, count)
        return (t0 + self._clock()) / 2, regs

    def _read_pzem(self) -> Reading:
        t_s, regs = self._timed_read(0, maps.PZEM.count)
        v = maps.decode_pzem(regs)
        return self._reading(
            t_s,
            voltage_v=v.voltage_v,
            current_a=v.current_a,
            power_w=v.power_w,
            power_factor=v.power_factor,
            frequency_hz=v.frequency_hz,
            energy_import_wh=float(self._energy_base_wh + v.energy_wh),
            energy_export_wh=0.0,
        )

    def _read_sdm(self) -> Reading:
        first, count = maps.SDM_BLOCK
        t_s, regs = self._timed_read(first, count)
        regmap = maps.SDM120 if self.model == "sdm120" else maps.SDM630

        def get(name: str) -> float:
            return maps.sdm_float(regs, regmap[name].address - first)

        if self.model == "sdm120":
            v, i = get("voltage_v"), get("current_a")
            p, pf = get("active_power_w"), get("power_factor")
        else:
            v, i = get("average_voltage_v"), get("sum_current_a")
            p, pf = get("total_power_w"), get("total_power_factor")
        return self._reading(
            t_s,
            voltage_v=v,
            current_a=i,
            power_w=p,
            power_factor=pf,
            frequency_hz=get("frequency_hz"),
            energy_import_wh=get("import_energy_kwh") * 1000,
            energy_export_wh=get("export_energy_kwh") * 1000,
        )

    def reset_energy(self) -> None:
        """PZEM only: zero its energy counter (readings stay monotonic on this driver)."""
        if self.model != "pzem004t":
            raise DeviceError(f"meter {self.meter_id}: only a PZEM-004T resets its energy")
        before = self._read_pzem().energy_import_wh
        reply = self.line.execute(PzemResetEnergy(dev_id=self.address))
        if reply.function_code != maps.PZEM_RESET_ENERGY:
            raise DeviceError(f"PZEM {self.meter_id} refused the energy reset ({reply})")
        self._energy_base_wh = int(before)

    def start_stream(self, interval_s: float) -> None:
        """Poll every ``interval_s`` (Modbus meters answer, they never stream)."""
        self._stream_s = interval_s
        self._next_t = time.monotonic() + interval_s

    def stop_stream(self) -> None:
        """Stop polling."""
        self._stream_s = 0.0

    def next_readings(self, timeout_s: float) -> list[Reading]:
        """One reading when the interval is due (sleeping at most ``timeout_s``)."""
        wait = self._next_t - time.monotonic() if self._stream_s else timeout_s + 1
        if wait > timeout_s:
            time.sleep(timeout_s)
            return []
        time.sleep(max(0.0, wait))
        self._next_t = max(self._next_t + self._stream_s, time.monotonic() - self._stream_s)
        return [self.read()]

    def set_relay(self, closed: bool) -> None:
        """No relay on these meters."""
        raise DeviceError(
            f"meter {self.meter_id} ({MODEL_NAMES[self.model]}) has no relay; switch its "
            "supply with a separate contactor, or use a gridmeter"
        )

    def calibration(self) -> Calibration:
        """Factory-calibrated: nothing the bench can read."""
        raise DeviceError(f"meter {self.meter_id} ({MODEL_NAMES[self.model]}) has no calibration")

    def set_calibration(self, cal: Calibration) -> None:
        """Factory-calibrated: nothing the bench can store."""
        self.calibration()

    def close(self) -> None:
        """Release the shared line; idempotent."""
        if not self._closed:
            self._closed = True
            release(self.line)

    def __enter__(self) -> ModbusMeter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
