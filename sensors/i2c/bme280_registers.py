"""Bosch BME280 / BMP280 register map and constants.

Sources: BME280 datasheet BST-BME280-DS002 rev 1.6 (section 5, memory map; section 9, measurement time);
BMP280 datasheet BST-BMP280-DS001 rev 1.14 (section 4).
"""

from __future__ import annotations

ADDRESSES = (0x76, 0x77)
"""SDO tied to GND -> 0x76, SDO to VDDIO -> 0x77."""

REG_CALIB00 = 0x88
"""dig_T1 .. dig_P9, reserved byte, dig_H1: 26 bytes at 0x88..0xA1."""
CALIB00_LEN = 26
REG_CALIB26 = 0xE1
"""dig_H2 .. dig_H6 (BME280 only): 7 bytes at 0xE1..0xE7."""
CALIB26_LEN = 7
REG_CHIP_ID = 0xD0
REG_RESET = 0xE0
RESET_WORD = 0xB6
REG_CTRL_HUM = 0xF2
REG_STATUS = 0xF3
REG_CTRL_MEAS = 0xF4
REG_CONFIG = 0xF5
REG_DATA = 0xF7
"""press_msb .. hum_lsb: 8 bytes on a BME280, 6 (no humidity) on a BMP280."""

STATUS_MEASURING = 0x08
STATUS_IM_UPDATE = 0x01

CHIP_ID_BME280 = 0x60
CHIP_IDS_BMP280 = (0x56, 0x57, 0x58)
"""0x56/0x57 were engineering samples; 0x58 is the mass-production BMP280."""

MODE_SLEEP = 0b00
MODE_FORCED = 0b01
MODE_NORMAL = 0b11

SKIPPED_20BIT = 0x80000
"""Value of a 20-bit result register when its measurement was skipped (also its reset value)."""
SKIPPED_16BIT = 0x8000

OVERSAMPLING = {0: 0, 1: 1, 2: 2, 4: 3, 8: 4, 16: 5}
"""Oversampling factor -> osrs_x code; 0 skips the measurement."""

FILTER = {0: 0, 2: 1, 4: 2, 8: 3, 16: 4}
"""IIR filter coefficient -> filter code."""

STANDBY_BME280_MS = {0.5: 0, 62.5: 1, 125.0: 2, 250.0: 3, 500.0: 4, 1000.0: 5, 10.0: 6, 20.0: 7}
STANDBY_BMP280_MS = {0.5: 0, 62.5: 1, 125.0: 2, 250.0: 3, 500.0: 4, 1000.0: 5, 2000.0: 6, 4000.0: 7}
