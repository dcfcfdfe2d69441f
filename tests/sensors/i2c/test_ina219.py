"""INA219: the datasheet's configure/measure/calculate example, codec properties, driver on the emulator."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.base import SensorInfo
from sensors.errors import ConfigError, ImplausibleReading, SensorError
from sensors.i2c import ina219_codec as codec
from sensors.i2c import ina219_registers as R
from sensors.i2c.ina219 import INA219Sensor, INA219Settings, build
from sensors.sim.emulators import context_with_emulators
from sensors.sim.i2c.ads1x15 import ADS1x15Chip
from sensors.sim.i2c.ina219 import INA219Chip
from sensors.sim.smbus import FakeSMBus
from sensors.spec import DeviceSpec

#: SBOS448G table 7 conditions: 10 A load, 12 V common mode, 2 mOhm shunt, 40 mV shunt range, 16 V bus range.
EXAMPLE = INA219Settings(shunt_ohm=0.002, max_current_a=15.0, bus_range_v=16, current_lsb_a=0.001)


def test_datasheet_example_codec() -> None:
    """Table 7: config 0x019F, shunt 20 mV, bus 11.98 V, cal 20480, current 10 A, power 119.8 W."""
    assert EXAMPLE.config == 0x019F
    assert codec.calibration_value(0.001, 0.002) == 20480
    assert codec.shunt_voltage_v(0x07D0) == pytest.approx(0.020)
    assert codec.bus_voltage(0x5D98) == (pytest.approx(11.98), False, False)
    assert codec.current_register(0x07D0, 20480) == 0x2710
    assert codec.power_register(0x2710, 0x5D98 >> 3) == 0x1766
    assert codec.current_a(0x2710, 0.001) == pytest.approx(10.0)
    assert codec.power_w(0x1766, 0.001) == pytest.approx(119.8)
    assert codec.minimum_current_lsb_a(15.0) == pytest.approx(457.76e-6, rel=1e-4)


def test_datasheet_example_on_the_emulated_chip() -> None:
    """The emulator fed the example's load holds exactly the table's registers; the driver reads them."""
    bus = FakeSMBus(1)
    chip = INA219Chip(0.002, clock=lambda: 0.0, load=lambda _t: (12.0, 10.0))
    bus.attach(0x40, chip)
    info = SensorInfo("pwr", "ina219", EXAMPLE.fields(), 1.0)
    sensor = INA219Sensor(info, bus, 0x40, "i2c-1", EXAMPLE)
    sensor.open()
    values = sensor.read()
    assert {r: chip.regs[r] for r in range(6)} == {
        R.REG_CONFIG: 0x019F, R.REG_SHUNT_VOLTAGE: 0x07D0, R.REG_BUS_VOLTAGE: 0x5D98 | R.BUS_CNVR,
        R.REG_POWER: 0x1766, R.REG_CURRENT: 0x2710, R.REG_CALIBRATION: 0x5000,
    }  # fmt: skip
    assert values == {"bus_voltage_v": 11.98, "shunt_voltage_v": 0.02, "current_a": 10.0, "power_w": 119.8}
    assert bus.writes(0x40)[:3] == [b"\x00\x80\x00", b"\x00\x01\x9f", b"\x05\x50\x00"]


def test_round_lsb_and_ranges() -> None:
    """Round LSB picks 1/2/5 steps; the PGA range is the smallest holding the maximum current."""
    assert codec.round_current_lsb_a(3.2) == pytest.approx(100e-6)
    assert codec.round_current_lsb_a(15.0) == pytest.approx(500e-6)
    assert codec.round_current_lsb_a(0.04) == pytest.approx(2e-6)
    assert codec.round_current_lsb_a(32.768) == pytest.approx(1e-3)
    assert [codec.shunt_range_for(i, 0.1) for i in (0.3, 0.5, 1.5, 3.2)] == [0.04, 0.08, 0.16, 0.32]
    with pytest.raises(ValueError):
        codec.shunt_range_for(4.0, 0.1)
    assert codec.power_lsb_w(0.001) == pytest.approx(0.02)


@given(st.floats(1e-4, 1000.0))
def test_round_lsb_property(max_a: float) -> None:
    """The round LSB is >= the minimum and < 2.5 times it (the worst 1-2-5 step)."""
    lsb = codec.round_current_lsb_a(max_a)
    minimum = codec.minimum_current_lsb_a(max_a)
    assert minimum * (1 - 1e-9) <= lsb < 2.5 * minimum * (1 + 1e-9)


@given(st.integers(-32768, 32767))
def test_signed_registers(value: int) -> None:
    """Shunt and current registers are two's complement 16-bit."""
    assert codec.sign_extend16(value & 0xFFFF) == value
    assert codec.shunt_voltage_v(value & 0xFFFF) == pytest.approx(value * 10e-6)


def make(load: tuple[float, float] = (5.0, 0.5)) -> tuple[INA219Sensor, FakeSMBus, INA219Chip]:
    bus = FakeSMBus(1)
    chip = INA219Chip(0.1, clock=lambda: 0.0, load=lambda _t: load)
    bus.attach(0x41, chip)
    settings = INA219Settings()
    return (
        INA219Sensor(SensorInfo("pwr", "ina219", settings.fields(), 1.0), bus, 0x41, "i2c-1", settings),
        bus,
        chip,
    )


def test_default_breakout_reading() -> None:
    """A 0.1 Ohm breakout at 0.5 A / 5 V reads 50 mV shunt, 4.95 V bus, 0.5 A and about 2.475 W."""
    sensor, _bus, _chip = make()
    sensor.open()
    assert sensor.read() == {
        "bus_voltage_v": 4.952, "shunt_voltage_v": 0.05, "current_a": 0.5,
        "power_w": pytest.approx(2.476, abs=0.002),
    }  # fmt: skip


def test_negative_current() -> None:
    """Reverse current reads negative shunt voltage and current."""
    sensor, _bus, _chip = make(load=(5.0, -1.25))
    sensor.open()
    values = sensor.read()
    assert (values["shunt_voltage_v"], values["current_a"]) == (-0.125, -1.25)


def test_lost_calibration_after_power_cycle_is_an_error_until_reopen() -> None:
    """A power-cycled chip has calibration 0: read() fails (the poller re-inits) rather than report 0 A."""
    sensor, bus, _chip = make()
    sensor.open()
    bus.disappear(0x41)
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert info.value.errno == errno.EREMOTEIO
    bus.reappear(0x41)
    with pytest.raises(SensorError, match="calibration lost"):
        sensor.read()
    sensor.open()
    assert sensor.read()["current_a"] == 0.5


def test_overflow_flag_is_implausible() -> None:
    """With a current LSB too small for the load the chip sets OVF; the reading is flagged, not published."""
    bus = FakeSMBus(1)
    bus.attach(0x40, INA219Chip(0.1, clock=lambda: 0.0, load=lambda _t: (5.0, 3.0)))
    settings = INA219Settings(max_current_a=0.3, current_lsb_a=10e-6)
    sensor = INA219Sensor(SensorInfo("pwr", "ina219", settings.fields(), 1.0), bus, 0x40, "i2c-1", settings)
    sensor.open()
    with pytest.raises(ImplausibleReading):
        sensor.read()


def test_wrong_chip_fails_open() -> None:
    """An ADS1115 at 0x48 (a classic address clash with INA219 A1=SDA) is refused at open()."""
    bus = FakeSMBus(1)
    bus.attach(0x48, ADS1x15Chip())
    settings = INA219Settings()
    sensor = INA219Sensor(SensorInfo("pwr", "ina219", settings.fields(), 1.0), bus, 0x48, "i2c-1", settings)
    with pytest.raises(SensorError, match="not an INA219"):
        sensor.open()


def spec(**options: object) -> DeviceSpec:
    return DeviceSpec("pwr", "ina219", "sensors[0]", 1.0, True, options)


def test_build_defaults_and_fields() -> None:
    """Defaults fit the common 0.1 Ohm breakout: +/-3.2 A, 32 V, calibration 4096."""
    sensor = build(spec(address=0x45), context_with_emulators())
    assert sensor.settings.calibration == 4096 and sensor.settings.config == 0x399F
    assert [(f.name, f.min, f.max) for f in sensor.info.fields] == [
        ("bus_voltage_v", 0.0, 32.0), ("shunt_voltage_v", -0.32, 0.32), ("current_a", -3.2, 3.2),
        ("power_w", 0.0, pytest.approx(102.4)),
    ]  # fmt: skip


@pytest.mark.parametrize(
    ("options", "key"),
    [
        ({"max_current_a": 5.0}, "sensors[0].max_current_a"),
        ({"bus_range_v": 24}, "sensors[0].bus_range_v"),
        ({"adc_samples": 3}, "sensors[0].adc_samples"),
        ({"current_lsb_a": 1e-6}, "sensors[0].current_lsb_a"),
        ({"shunt_ohm": 0.0001, "max_current_a": 1.0}, "sensors[0].shunt_ohm"),
        ({"address": 0x50}, "sensors[0].address"),
    ],
)
def test_build_rejects_bad_options(options: dict[str, object], key: str) -> None:
    """Impossible electrical setups are ConfigErrors naming the key."""
    with pytest.raises(ConfigError) as info:
        build(spec(**options), context_with_emulators())
    assert info.value.key == key
