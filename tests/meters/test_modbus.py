"""Modbus meters: framing and register maps against the datasheets, several meters on
one bus, the PZEM energy reset, faults, and the rig starting emulated buses."""

from __future__ import annotations

import struct

import pytest

from bench.config import BenchConfig, MeterConfig, parse_bench_config
from bench.config.model import ModbusConfig
from bench.devices import modbus_maps as maps
from bench.devices.modbus_meter import ModbusMeter
from bench.emulator.modbus_bus import ModbusBus, crc16, rtu_frame
from bench.emulator.modbus_device import Pzem004t, modbus_device
from bench.errors import ConfigError, DeviceError, TransportError
from bench.rig import Capability, Rig


def test_rtu_frames_match_the_pzem_manual() -> None:
    # PZEM-004T V3.0 manual, §2.3 and §2.5: the read-all and reset-energy frames.
    assert rtu_frame(0x01, bytes.fromhex("04 0000 000A")) == bytes.fromhex(
        "01 04 00 00 00 0A 70 0D"
    )
    assert rtu_frame(0x01, b"\x42") == bytes.fromhex("01 42 80 11")
    assert crc16(b"123456789") == 0x4B37  # CRC-16/MODBUS check value (the CRC catalogue)


def test_pzem_registers_decode_as_the_manual_says() -> None:
    # the manual's reply example: 0x08 0x98 = 220.0 V, current 0x03E8 = 1.000 A, power
    # 0x0898 = 220.0 W, energy 0 Wh, 0x01F4 = 50.0 Hz, 0x0064 = 1.00, no alarm
    regs = [0x0898, 0x03E8, 0x0000, 0x0898, 0x0000, 0x0000, 0x0000, 0x01F4, 0x0064, 0x0000]
    v = maps.decode_pzem(regs)
    assert (v.voltage_v, v.current_a, v.power_w, v.energy_wh) == (220.0, 1.0, 220.0, 0)
    assert (v.frequency_hz, v.power_factor, v.alarm) == (50.0, 1.0, False)
    assert maps.pzem_u32(0x0001, 0x0002) == 0x0002_0001  # low word first


def test_sdm_floats_are_ieee754_high_word_first() -> None:
    # 230.0 is 0x43660000; 0.5 kWh is 0x3F000000 (IEEE-754 single)
    assert maps.sdm_registers(230.0) == (0x4366, 0x0000)
    assert maps.sdm_float([0x3F00, 0x0000], 0) == 0.5
    assert maps.SDM120["import_energy_kwh"].address == 0x0048
    assert maps.SDM630["total_power_w"].address == 0x0034


def test_emulated_pzem_answers_raw_requests_like_the_manual() -> None:
    pzem = Pzem004t("pz", 1, power_w=2300.0)
    reply = pzem.handle(bytes.fromhex("04 0000 000A"))
    assert reply[:2] == b"\x04\x14"
    regs = struct.unpack(">10H", reply[2:])
    assert regs[0] == 2300  # 230.0 V in 0.1 V
    assert regs[1] | regs[2] << 16 == 10_000  # 10.000 A in mA, low word first
    assert regs[3] | regs[4] << 16 == 23_000  # 2300.0 W in 0.1 W
    assert pzem.handle(bytes.fromhex("04 0009 0002")) == b"\x84\x02"  # past the map
    assert pzem.handle(b"\x42") == b"\x42"
    assert pzem.handle(b"\x2b") == b"\xab\x01"  # illegal function


@pytest.mark.parametrize("tcp", [False, True], ids=["rtu", "tcp"])
def test_three_models_on_one_bus_each_answer_at_its_own_address(tcp: bool) -> None:
    with ModbusBus(tcp=tcp) as bus:
        truth = {
            "pz": bus.add(modbus_device("pzem004t", "pz", 1, power_w=1000.0)),
            "s1": bus.add(modbus_device("sdm120", "s1", 2, power_w=-1500.0)),
            "s6": bus.add(modbus_device("sdm630", "s6", 3, power_w=4600.0)),
        }
        models = {"pz": ("pzem004t", 1), "s1": ("sdm120", 2), "s6": ("sdm630", 3)}
        drivers = {m: ModbusMeter.open(bus.url, m, *models[m]) for m in models}
        try:
            assert len({id(d.line) for d in drivers.values()}) == 1  # one shared line
            for meter_id, driver in drivers.items():
                r = driver.read()
                expected = truth[meter_id].power_w
                if meter_id == "pz":
                    expected = abs(expected)  # the PZEM measures magnitudes
                assert r.power_w == pytest.approx(expected, rel=1e-3)
                assert r.voltage_v == pytest.approx(230.0, rel=1e-3)
                assert r.current_a == pytest.approx(abs(expected) / 230.0, rel=1e-3)
        finally:
            for d in drivers.values():
                d.close()


def test_an_absent_address_times_out_with_a_hint() -> None:
    with ModbusBus() as bus:
        bus.add(modbus_device("sdm120", "s1", 2))
        with pytest.raises(TransportError, match="address"):
            ModbusMeter.open(bus.url, "ghost", "sdm120", 9)


def test_two_meters_cannot_share_an_address() -> None:
    bus = ModbusBus()
    bus.add(modbus_device("sdm120", "a", 5))
    with pytest.raises(ConfigError, match="address 5"):
        bus.add(modbus_device("pzem004t", "b", 5))


def test_pzem_reset_zeroes_the_meter_but_readings_stay_monotonic() -> None:
    with ModbusBus() as bus:
        pz = bus.add(modbus_device("pzem004t", "pz", 1, power_w=3600.0, sim_clock=_Clock()))
        assert isinstance(pz, Pzem004t)
        with ModbusMeter.open(bus.url, "pz", "pzem004t", 1) as driver:
            _Clock.now_s = 10.0  # 3600 W for 10 s: 10 Wh
            before = driver.read().energy_import_wh
            assert before == 10
            driver.reset_energy()
            assert pz.resets == 1
            assert pz.energy_wh()[0] == 0  # the meter's own counter is zero
            _Clock.now_s = 12.0
            after = driver.read().energy_import_wh
            assert after == 12  # 10 before the reset + 2 since
            s1 = bus.add(modbus_device("sdm120", "s1", 2))
            assert s1.requests == 0
        with ModbusMeter.open(bus.url, "s1", "sdm120", 2) as sdm, pytest.raises(DeviceError):
            sdm.reset_energy()


class _Clock:
    now_s = 0.0

    def __call__(self) -> float:
        return _Clock.now_s


def test_dropped_and_corrupted_replies_fail_as_transport_errors_then_recover() -> None:
    with ModbusBus() as bus:
        s1 = bus.add(modbus_device("sdm120", "s1", 2, power_w=100.0))
        with ModbusMeter.open(bus.url, "s1", "sdm120", 2) as driver:
            s1.faults.drop_rate = 1.0
            with pytest.raises(TransportError):
                driver.read()
            s1.faults.drop_rate, s1.faults.garbage_rate = 0.0, 1.0
            with pytest.raises(TransportError):
                driver.read()
            s1.faults.garbage_rate = 0.0
            assert driver.read().power_w == pytest.approx(100.0)


def test_no_relay_no_calibration() -> None:
    with ModbusBus() as bus:
        bus.add(modbus_device("sdm630", "s6", 1))
        with ModbusMeter.open(bus.url, "s6", "sdm630", 1) as driver:
            with pytest.raises(DeviceError, match="no relay"):
                driver.set_relay(False)
            with pytest.raises(DeviceError):
                driver.calibration()


def test_the_rig_starts_shared_buses_from_a_config() -> None:
    bench = parse_bench_config(
        {
            "meters": [
                {"id": "pz", "kind": "pzem004t", "power_w": 500.0, "modbus": {"address": 1}},
                {"id": "s6", "kind": "sdm630", "power_w": -900.0, "modbus": {"address": 2}},
                {
                    "id": "t1",
                    "kind": "sdm120",
                    "power_w": 50.0,
                    "modbus": {"bus": "tcp-line", "transport": "tcp"},
                },
            ]
        }
    )
    with Rig(bench) as rig:
        assert rig.url("pz") == rig.url("s6") != rig.url("t1")
        assert rig.url("t1").startswith("tcp://127.0.0.1:")
        assert rig.capabilities("pz") == {Capability.LOAD_CONTROL}
        for meter_id, watts in (("pz", 500.0), ("s6", -900.0), ("t1", 50.0)):
            with rig.opener(meter_id)() as driver:  # type: ignore[attr-defined]
                assert driver.read().power_w == pytest.approx(watts, rel=1e-3)
        load = rig.load_control("s6")
        assert load is not None
        load.set_power(1200.0)
        with rig.opener("s6")() as driver:  # type: ignore[attr-defined]
            assert driver.read().power_w == pytest.approx(1200.0, rel=1e-3)


def test_config_checks_modbus_meters() -> None:
    real = MeterConfig("x", kind="sdm630", port="/dev/ttyUSB0", modbus=ModbusConfig(address=3))
    assert Rig(BenchConfig(meters=(real,))).capabilities("x") == frozenset()
    with pytest.raises(ConfigError, match="measures real power"):
        parse_bench_config(
            {"meters": [{"id": "x", "kind": "pzem004t", "port": "/dev/ttyUSB0", "power_w": 5.0}]}
        )
    with pytest.raises(ConfigError, match="needs kind pzem004t"):
        parse_bench_config({"meters": [{"id": "x", "modbus": {"address": 2}}]})
    with pytest.raises(ConfigError, match="address"):
        parse_bench_config({"meters": [{"id": "x", "kind": "sdm120", "modbus": {"address": 0}}]})
