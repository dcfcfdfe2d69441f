"""TI INA219: calibration arithmetic, register decoding and the chip's own integer math. Pure.

Source: TI SBOS448G section 8.5 (equations 1-5) and table 7 (the configure / measure / calculate example:
10 A through 2 mOhm at 12 V gives calibration 20480, current register 10000 and power register 5990).
"""

from __future__ import annotations

import math

from sensors.i2c import ina219_registers as R


def sign_extend16(value: int) -> int:
    """Interpret a 16-bit register as two's complement."""
    value &= 0xFFFF
    return value - 0x10000 if value & 0x8000 else value


def minimum_current_lsb_a(max_expected_a: float) -> float:
    """Smallest current LSB that keeps ``max_expected_a`` inside the 15-bit current register (equation 2)."""
    return max_expected_a / 32768.0


def round_current_lsb_a(max_expected_a: float) -> float:
    """Return a round current LSB (1, 2 or 5 x 10^n A) at or above the minimum, as the datasheet advises."""
    minimum = minimum_current_lsb_a(max_expected_a)
    decade = 10.0 ** math.floor(math.log10(minimum))
    for step in (1.0, 2.0, 5.0, 10.0):
        if step * decade >= minimum * (1 - 1e-12):
            return step * decade
    raise AssertionError("unreachable")  # pragma: no cover - step 10 always qualifies


def calibration_value(current_lsb_a: float, shunt_ohm: float) -> int:
    """Calibration register value: trunc(0.04096 / (Current_LSB * R_shunt)) (equation 1), bit 0 cleared."""
    cal = math.trunc(R.CAL_NUMERATOR / (current_lsb_a * shunt_ohm) + 1e-9)
    return cal & 0xFFFE


def power_lsb_w(current_lsb_a: float) -> float:
    """Power LSB is 20 times the current LSB (equation 3)."""
    return 20.0 * current_lsb_a


def shunt_range_for(max_expected_a: float, shunt_ohm: float) -> float:
    """Smallest shunt full-scale range (PGA) that holds ``max_expected_a`` across ``shunt_ohm``."""
    needed = max_expected_a * shunt_ohm
    for fsr in sorted(R.SHUNT_RANGE):
        if needed <= fsr * (1 + 1e-9):
            return fsr
    raise ValueError(f"{max_expected_a} A across {shunt_ohm} Ohm is {needed * 1000:.0f} mV, above 320 mV")


def encode_config(bus_range_v: int, shunt_range_v: float, bus_adc: int, shunt_adc: int, mode: int) -> int:
    """Pack the configuration register: BRNG[13], PG[12:11], BADC[10:7], SADC[6:3], MODE[2:0]."""
    return (
        R.BUS_RANGE[bus_range_v] << 13
        | R.SHUNT_RANGE[shunt_range_v] << 11
        | (bus_adc & 0xF) << 7
        | (shunt_adc & 0xF) << 3
        | (mode & 0x7)
    )


def shunt_voltage_v(register: int) -> float:
    """Shunt voltage register (signed, 10 uV LSB) to volts."""
    return sign_extend16(register) * R.SHUNT_LSB_V


def bus_voltage(register: int) -> tuple[float, bool, bool]:
    """Bus voltage register to (volts, conversion ready, math overflow); data sits in bits 15..3, 4 mV LSB."""
    return (register >> 3) * R.BUS_LSB_V, bool(register & R.BUS_CNVR), bool(register & R.BUS_OVF)


def current_a(register: int, current_lsb_a: float) -> float:
    """Current register (signed) to amperes."""
    return sign_extend16(register) * current_lsb_a


def power_w(register: int, current_lsb_a: float) -> float:
    """Power register (unsigned) to watts."""
    return (register & 0xFFFF) * power_lsb_w(current_lsb_a)


def current_register(shunt_register: int, calibration: int) -> int:
    """The chip's current computation: shunt * calibration / 4096 (equation 4), truncated toward zero."""
    return int(sign_extend16(shunt_register) * calibration / 4096)


def power_register(current_reg: int, bus_code: int) -> int:
    """The chip's power computation: current * bus voltage code / 5000 (equation 5), truncated."""
    return int(abs(current_reg) * bus_code / 5000)
