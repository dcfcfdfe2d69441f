"""TI INA219 current / power monitor register map.

Source: TI SBOS448G (INA219, rev. G, December 2015), sections 8.5 and 8.6. Registers are 16-bit big-endian,
selected by an 8-bit pointer.
"""

from __future__ import annotations

ADDRESSES = tuple(range(0x40, 0x50))
"""A1/A0 strapped to GND/VS/SDA/SCL give 0x40..0x4F (datasheet table 1)."""

REG_CONFIG = 0x00
REG_SHUNT_VOLTAGE = 0x01
REG_BUS_VOLTAGE = 0x02
REG_POWER = 0x03
REG_CURRENT = 0x04
REG_CALIBRATION = 0x05

CONFIG_RESET_VALUE = 0x399F
CONFIG_RST = 0x8000

BUS_RANGE = {16: 0, 32: 1}
"""Bus voltage full-scale range in volts -> BRNG bit."""

SHUNT_RANGE = {0.04: 0, 0.08: 1, 0.16: 2, 0.32: 3}
"""Shunt voltage full-scale range in volts -> PG code (gain 1, /2, /4, /8)."""

ADC_SAMPLES = {1: 0x3, 2: 0x9, 4: 0xA, 8: 0xB, 16: 0xC, 32: 0xD, 64: 0xE, 128: 0xF}
"""Samples averaged (12-bit each) -> BADC/SADC code; 1 is plain 12-bit (532 us)."""

MODE_SHUNT_AND_BUS_CONTINUOUS = 0x7

SHUNT_LSB_V = 10e-6
BUS_LSB_V = 0.004
BUS_CNVR = 0x0002
BUS_OVF = 0x0001

CAL_NUMERATOR = 0.04096
"""Fixed constant of the calibration equation (datasheet equation 1)."""
CONVERSION_TIME_12BIT_S = 532e-6
