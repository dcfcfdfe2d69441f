"""BH1750: datasheet lux example, MTreg opcodes, and the driver on the emulated bus."""

from __future__ import annotations

import errno

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.base import SensorInfo
from sensors.errors import ConfigError, SensorError
from sensors.i2c import bh1750_codec as codec
from sensors.i2c import bh1750_registers as R
from sensors.i2c.bh1750 import FIELDS, BH1750Sensor, build
from sensors.sim.emulators import context_with_emulators
from sensors.sim.i2c.bh1750 import BH1750Chip
from sensors.sim.smbus import FakeSMBus
from sensors.spec import DeviceSpec


def test_datasheet_example() -> None:
    """High byte 1000_0011, low byte 1001_0000 in H-resolution mode is 28067 lx (datasheet page 7)."""
    assert round(codec.lux(0b1000_0011_1001_0000, "high")) == 28067


def test_mode_and_mtreg_scaling() -> None:
    """H-res mode 2 halves lux per count; MTreg 138 halves it again; MTreg 31 widens the range to ~121 klx."""
    assert codec.lux_per_count("high") == pytest.approx(1 / 1.2)
    assert codec.lux_per_count("low") == pytest.approx(1 / 1.2)
    assert codec.lux_per_count("high2") == pytest.approx(1 / 2.4)
    assert codec.lux_per_count("high", 138) == pytest.approx(1 / 2.4)
    assert codec.lux(0xFFFF, "high", 31) == pytest.approx(121556.85, abs=0.01)
    assert codec.measurement_time_s("high", 138) == pytest.approx(0.360)
    assert codec.raw_count(1e9, "high") == 0xFFFF and codec.raw_count(-5.0, "high") == 0


def test_mtreg_opcodes_datasheet() -> None:
    """MTreg 69 (0b0100_0101) is sent as 0x42 then 0x65; bounds 31 and 254 are accepted, 30 refused."""
    assert codec.mtreg_opcodes(69) == (0x42, 0x65)
    assert codec.mtreg_opcodes(254) == (0x47, 0x7E)
    assert codec.mtreg_opcodes(31) == (0x40, 0x7F)
    with pytest.raises(ValueError):
        codec.mtreg_opcodes(30)
    assert codec.decode_mtreg_opcode(0x10, 69) is None


@given(st.integers(R.MTREG_MIN, R.MTREG_MAX), st.integers(R.MTREG_MIN, R.MTREG_MAX))
def test_mtreg_opcodes_round_trip(start: int, target: int) -> None:
    """Applying both opcodes of any MTreg to any previous MTreg yields exactly the target."""
    high, low = codec.mtreg_opcodes(target)
    mid = codec.decode_mtreg_opcode(high, start)
    assert mid is not None
    assert codec.decode_mtreg_opcode(low, mid) == target


@given(st.floats(0, 27000), st.sampled_from(["high", "high2", "low"]))
def test_lux_round_trip_within_one_count(illuminance: float, mode: str) -> None:
    """Encoding a lux value and decoding it is accurate to half a count (below saturation)."""
    assert codec.lux(codec.raw_count(illuminance, mode), mode) == pytest.approx(
        illuminance, abs=codec.lux_per_count(mode) / 2 + 1e-9
    )


def make(**kwargs: object) -> tuple[BH1750Sensor, FakeSMBus, BH1750Chip]:
    bus = FakeSMBus(1)
    chip = BH1750Chip(clock=lambda: 10.0)
    bus.attach(0x23, chip)
    info = SensorInfo("lux", "bh1750", FIELDS, 1.0, simulated=True, model="BH1750")
    return BH1750Sensor(info, bus, 0x23, "i2c-1", sleep=lambda _s: None, **kwargs), bus, chip  # type: ignore[arg-type]


def test_one_time_mode_sequence_and_value() -> None:
    """open() powers on, resets, sets MTreg; each read re-sends MTreg + one-time opcode, reads 2 bytes."""
    sensor, bus, chip = make(resolution="high2", mtreg=100)
    sensor.open()
    values = sensor.read()
    assert chip.opcodes == [0x01, 0x07, 0x43, 0x64, 0x43, 0x64, 0x21]
    assert values["illuminance_lx"] == pytest.approx(chip.physical(), abs=codec.lux_per_count("high2", 100))
    assert not chip.powered  # the chip powered itself down after the one-time conversion
    assert bus.log[-1].op == "r" and len(bus.log[-1].data) == 2


def test_continuous_mode_reads_only() -> None:
    """In continuous mode read() is one 2-byte read and no further opcodes."""
    sensor, _bus, chip = make(continuous=True, resolution="low")
    sensor.open()
    before = list(chip.opcodes)
    sensor.read()
    sensor.read()
    assert before == [0x01, 0x07, 0x42, 0x65, 0x13] and chip.opcodes == before


def test_power_cycle_in_one_time_mode_keeps_sensitivity() -> None:
    """After the chip power-cycles (MTreg back to 69), the next one-time read re-applies the MTreg."""
    sensor, bus, chip = make(mtreg=200)
    sensor.open()
    bus.disappear(0x23)
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert info.value.errno == errno.EREMOTEIO
    bus.reappear(0x23)
    values = sensor.read()
    assert chip.mtreg == 200
    assert values["illuminance_lx"] == pytest.approx(chip.physical(), abs=codec.lux_per_count("high", 200))


def test_build_validates_options() -> None:
    """mtreg outside 31..254, a bad resolution or address are config errors naming the key."""
    ctx = context_with_emulators()
    assert build(DeviceSpec("lux", "bh1750", "s[0]", 1.0, True, {"address": 0x5C}), ctx).bus_id == "i2c-1"
    for options, key in (
        ({"mtreg": 300}, "s[0].mtreg"),
        ({"resolution": "x"}, "s[0].resolution"),
        ({"address": 0x24}, "s[0].address"),
        ({"continuous": 1}, "s[0].continuous"),
    ):
        with pytest.raises(ConfigError) as info:
            build(DeviceSpec("lux", "bh1750", "s[0]", 1.0, True, options), context_with_emulators())
        assert info.value.key == key
