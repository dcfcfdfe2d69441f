"""Chip emulators: slowly varying plausible physics, codec inversion, and register behaviour on silicon."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.i2c import bme280_codec
from sensors.i2c import bme280_registers as R
from sensors.sim.i2c.bh1750 import BH1750Chip
from sensors.sim.i2c.bme280 import BME280Chip, indoor_environment
from sensors.sim.i2c.ina219 import motor_load
from sensors.sim.i2c.waves import invert, slow_wave


@given(st.floats(0, 1e6), st.floats(1, 1e4))
def test_slow_wave_stays_within_amplitude(t_s: float, period_s: float) -> None:
    """slow_wave never leaves mean +/- amplitude."""
    assert -5.0 - 1e-9 <= slow_wave(t_s, 0.0, 5.0, period_s, 0.3) <= 5.0 + 1e-9


def test_indoor_environment_varies_slowly_but_visibly() -> None:
    """Second to second the room changes by < 0.05 degC / 2 Pa / 0.2 %RH; over 15 minutes it clearly moves."""
    samples = [indoor_environment(float(t)) for t in range(0, 900)]
    for a, b in itertools.pairwise(samples):
        assert abs(a[0] - b[0]) < 0.05 and abs(a[1] - b[1]) < 2.0 and abs(a[2] - b[2]) < 0.2
    temps = [s[0] for s in samples]
    assert max(temps) - min(temps) > 2.0
    assert all(19.0 <= t <= 23.0 for t in temps)
    currents = [motor_load(float(t))[1] for t in range(0, 60)]
    assert min(currents) >= 0.2 - 1e-9 and max(currents) <= 1.0 + 1e-9


def test_invert_finds_closest_code_both_directions() -> None:
    """invert returns the raw code whose decoded value is closest, for increasing and decreasing codecs."""
    assert invert(lambda raw: raw * 0.5, 10.2, 0, 100) == 20
    assert invert(lambda raw: raw * 0.5, 10.3, 0, 100) == 21
    assert invert(lambda raw: 100 - raw, 37.4, 0, 100) == 63
    assert invert(lambda raw: raw * 0.5, 1000.0, 0, 100) == 100


@given(st.floats(-30.0, 60.0))
def test_bme280_emulator_temperature_round_trip(temperature: float) -> None:
    """Any temperature the emulator encodes decodes back through the real codec within 0.01 degC."""
    cal = BME280Chip().calibration
    raw = invert(lambda r: bme280_codec.compensate_temperature(r, cal)[0], temperature, 0, 0xFFFFF)
    assert bme280_codec.compensate_temperature(raw, cal)[0] == pytest.approx(temperature, abs=0.01)


def test_bme280_skipped_channel_and_reset_word() -> None:
    """Oversampling 0 gives the 0x80000 pattern on that channel; only 0xB6 resets; chip id is read-only."""
    chip = BME280Chip(clock=lambda: 0.0)
    chip.write(bytes([R.REG_CTRL_HUM, 0]))
    chip.write(bytes([R.REG_CTRL_MEAS, bme280_codec.encode_ctrl_meas(1, 0, R.MODE_FORCED)]))
    chip.write(bytes([R.REG_DATA]))
    sample = bme280_codec.parse_raw(chip.read(8))
    assert (sample.adc_p, sample.adc_h) == (
        R.SKIPPED_20BIT,
        R.SKIPPED_16BIT,
    ) and sample.adc_t != R.SKIPPED_20BIT
    chip.write(bytes([R.REG_CHIP_ID, 0x00]))
    chip.write(bytes([R.REG_RESET, 0x12]))
    chip.write(bytes([R.REG_DATA + 3]))
    assert chip.read(3) != bytes([0x80, 0, 0])  # temperature still there: a wrong word does not reset
    chip.write(bytes([R.REG_CHIP_ID]))
    assert chip.read(1) == bytes([0x60])
    chip.write(bytes([R.REG_RESET, R.RESET_WORD]))
    chip.write(bytes([R.REG_DATA + 3]))
    assert chip.read(3) == bytes([0x80, 0, 0])


def test_bmp280_emulator_has_no_humidity_registers() -> None:
    """A BMP280 emulator ignores ctrl_hum and its humidity calibration block reads zero."""
    chip = BME280Chip(0x58)
    chip.write(bytes([R.REG_CTRL_HUM, 0x05]))
    chip.write(bytes([R.REG_CTRL_HUM]))
    assert chip.read(1) == b"\x00"
    chip.write(bytes([R.REG_CALIB26]))
    assert chip.read(7) == bytes(7)


def test_bh1750_power_states() -> None:
    """RESET is ignored while powered down; one-time mode powers down after converting."""
    chip = BH1750Chip(clock=lambda: 0.0, environment=lambda t: 120.0)
    chip.write(bytes([0x20]))
    assert chip.read(2) == bytes([0, 144]) and not chip.powered  # 120 lx * 1.2 = 144 counts
    chip.write(bytes([0x07]))
    assert chip.read(2) == bytes([0, 144])
    chip.write(bytes([0x01, 0x07]))
    assert chip.read(2) == bytes([0, 0])
    chip.write(bytes([0x10, 0x00]))
    assert not chip.powered and not chip.continuous
