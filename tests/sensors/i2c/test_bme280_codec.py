"""BME280/BMP280 codec against the Bosch datasheet numbers, plus round-trip properties."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from sensors.i2c import bme280_codec as codec
from sensors.i2c import bme280_registers as R

DATASHEET = codec.Calibration(27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
HUMID = codec.Calibration(
    27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000, 75, 362, 0, 313, 50, 30
)


def test_datasheet_worked_example_temperature() -> None:
    """adc_T 519888 with the BMP280 datasheet trimming gives 25.08 °C and t_fine 128422."""
    temperature_c, t_fine = codec.compensate_temperature(519888, DATASHEET)
    assert round(temperature_c, 2) == 25.08
    assert int(t_fine) == 128422


def test_datasheet_worked_example_pressure() -> None:
    """adc_P 415148 at t_fine of the example gives 100653.27 Pa."""
    _t, t_fine = codec.compensate_temperature(519888, DATASHEET)
    pressure_pa = codec.compensate_pressure(415148, t_fine, DATASHEET)
    assert pressure_pa is not None
    assert round(pressure_pa, 2) == 100653.27


def test_pressure_division_by_zero_guard() -> None:
    """dig_P1 == 0 makes the datasheet formula divide by zero: None instead of a crash."""
    cal = codec.Calibration(27504, 26435, -1000, 0, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000)
    assert codec.compensate_pressure(415148, 128422.0, cal) is None


def _humidity_int32(adc_h: int, t_fine: int, c: codec.Calibration) -> float:
    """Bosch's fixed-point reference (BME280 DS002 4.2.3): independent cross-check of the float path."""
    v = t_fine - 76800
    v = ((((adc_h << 14) - (c.h4 << 20) - (c.h5 * v)) + 16384) >> 15) * (
        ((((((v * c.h6) >> 10) * (((v * c.h3) >> 11) + 32768)) >> 10) + 2097152) * c.h2 + 8192) >> 14
    )
    v = v - (((((v >> 15) * (v >> 15)) >> 7) * c.h1) >> 4)
    v = min(max(v, 0), 419430400)
    return (v >> 12) / 1024.0


@pytest.mark.parametrize("adc_h", [22000, 26000, 30000, 34000, 38000])
def test_humidity_matches_fixed_point_reference(adc_h: int) -> None:
    """The float humidity formula agrees with Bosch's int32 formula within 0.01 %RH."""
    _t, t_fine = codec.compensate_temperature(519888, HUMID)
    expected = _humidity_int32(adc_h, int(t_fine), HUMID)
    assert 0.0 < expected < 100.0
    assert codec.compensate_humidity(adc_h, t_fine, HUMID) == pytest.approx(expected, abs=0.01)


def test_humidity_clamping() -> None:
    """Humidity clamps to 0 and 100 %RH at the ends of the ADC range, as the datasheet does."""
    _t, t_fine = codec.compensate_temperature(519888, HUMID)
    assert codec.compensate_humidity(0, t_fine, HUMID) == 0.0
    assert codec.compensate_humidity(0xFFFF, t_fine, HUMID) == 100.0


def test_parse_calibration_datasheet_bytes() -> None:
    """The 0x88 image of the datasheet trimming decodes to the same dig_* values, H4/H5 sign-extended."""
    calib00 = bytes.fromhex("706b436718fc7d8e43d6d00b270b8c00f9ff8c3cf8c67017004b")
    calib26 = bytes([0x6A, 0x01, 0x00, 0x13, 0x29, 0x03, 0x1E])
    cal = codec.parse_calibration(calib00, calib26)
    assert (cal.t1, cal.t2, cal.t3) == (27504, 26435, -1000)
    assert (cal.p1, cal.p2, cal.p3, cal.p4, cal.p5, cal.p6, cal.p7, cal.p8, cal.p9) == (
        36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000,
    )  # fmt: skip
    assert (cal.h1, cal.h2, cal.h3, cal.h4, cal.h5, cal.h6) == (75, 362, 0, 313, 50, 30)


def test_parse_calibration_negative_h4_h5_h6() -> None:
    """Negative dig_H4 / dig_H5 / dig_H6 (sign in 0xE4 / 0xE6 / 0xE7) is sign-extended, not read as 4000+."""
    calib00, _ = codec.encode_calibration(HUMID)
    cal = codec.parse_calibration(calib00, bytes([0x6A, 0x01, 0x00, 0xFF, 0xEF, 0xFE, 0xF6]))
    assert (cal.h4, cal.h5, cal.h6) == (-1, -18, -10)


def test_bmp280_calibration_has_no_humidity() -> None:
    """Without the 0xE1 block the humidity trimming is all zero."""
    calib00, _ = codec.encode_calibration(DATASHEET)
    cal = codec.parse_calibration(calib00)
    assert cal == DATASHEET


def test_parse_raw_bme280_and_bmp280() -> None:
    """The burst read splits into 20-bit pressure and temperature and 16-bit humidity."""
    assert codec.parse_raw(bytes([0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00, 0x69, 0x78])) == codec.RawSample(
        519888, 415148, 0x6978
    )
    assert codec.parse_raw(bytes([0x65, 0x5A, 0xC0, 0x7E, 0xED, 0x00])) == codec.RawSample(
        519888, 415148, None
    )


def test_skipped_pattern_detection() -> None:
    """The reset / skipped value on any channel is detected; ordinary values are not."""
    assert codec.is_skipped(codec.RawSample(R.SKIPPED_20BIT, 415148, 27000))
    assert codec.is_skipped(codec.RawSample(519888, R.SKIPPED_20BIT, None))
    assert codec.is_skipped(codec.RawSample(519888, 415148, R.SKIPPED_16BIT))
    assert not codec.is_skipped(codec.RawSample(519888, 415148, 27000))
    assert not codec.is_skipped(codec.RawSample(519888, 415148, None))


def test_control_register_packing() -> None:
    """ctrl_meas and config pack per datasheet tables 22 and 26."""
    assert codec.encode_ctrl_meas(R.OVERSAMPLING[2], R.OVERSAMPLING[16], R.MODE_NORMAL) == 0b010_101_11
    assert codec.decode_ctrl_meas(0b010_101_11) == (2, 5, 3)
    assert codec.encode_config(R.STANDBY_BME280_MS[1000.0], R.FILTER[16]) == 0b101_100_00
    assert codec.decode_config(0b101_100_00) == (5, 4)


def test_measurement_time_and_oversampling_factor() -> None:
    """Max measurement time matches datasheet appendix B (x1/x1/x1 = 9.3 ms; T only = 3.55 ms)."""
    assert codec.measurement_time_s(1, 1, 1) == pytest.approx(0.0093)
    assert codec.measurement_time_s(1, 0, 0) == pytest.approx(0.00355)
    assert [codec.oversampling_factor(c) for c in range(8)] == [0, 1, 2, 4, 8, 16, 16, 16]


@given(st.integers(0, 0xFFFF), st.integers(1, 16))
def test_sign_extend_property(value: int, bits: int) -> None:
    """sign_extend matches two's complement: result in range and congruent to value mod 2**bits."""
    result = codec.sign_extend(value, bits)
    assert -(1 << (bits - 1)) <= result < (1 << (bits - 1))
    assert (result - value) % (1 << bits) == 0


cal_strategy = st.builds(
    codec.Calibration,
    st.integers(0, 0xFFFF), *[st.integers(-32768, 32767)] * 2, st.integers(0, 0xFFFF),
    *[st.integers(-32768, 32767)] * 8, st.integers(0, 255), st.integers(-32768, 32767), st.integers(0, 255),
    st.integers(-2048, 2047), st.integers(-2048, 2047), st.integers(-128, 127),
)  # fmt: skip


@given(cal_strategy)
def test_calibration_round_trip(cal: codec.Calibration) -> None:
    """encode_calibration then parse_calibration returns every dig_* value, including 12-bit H4/H5."""
    assert codec.parse_calibration(*codec.encode_calibration(cal)) == cal


@given(st.integers(0, 0xFFFFF), st.integers(0, 0xFFFFF), st.one_of(st.none(), st.integers(0, 0xFFFF)))
def test_raw_round_trip(adc_t: int, adc_p: int, adc_h: int | None) -> None:
    """encode_raw then parse_raw returns the same ADC values."""
    sample = codec.RawSample(adc_t, adc_p, adc_h)
    assert codec.parse_raw(codec.encode_raw(sample)) == sample
