"""TI ADS1115 (16-bit) / ADS1015 (12-bit) register map and configuration fields.

Sources: TI SBAS444D (ADS111x, rev. D, December 2018) section 9.6; TI SBAS473E (ADS101x, rev. E, January 2018)
section 8.6. Registers are 16-bit, big-endian, selected by an 8-bit pointer.
"""

from __future__ import annotations

ADDRESSES = (0x48, 0x49, 0x4A, 0x4B)
"""ADDR pin to GND -> 0x48, VDD -> 0x49, SDA -> 0x4A, SCL -> 0x4B."""

REG_CONVERSION = 0x00
REG_CONFIG = 0x01
REG_LO_THRESH = 0x02
REG_HI_THRESH = 0x03

CONFIG_RESET = 0x8583
OS_START = 0x8000
"""Write: start a single conversion. Read: 1 = idle, 0 = converting."""
MODE_SINGLE_SHOT = 0x0100
COMP_QUE_DISABLE = 0x0003

#: Input multiplexer: positive input - negative input (single-ended inputs use GND).
MUX = {"a0-a1": 0, "a0-a3": 1, "a1-a3": 2, "a2-a3": 3, "a0": 4, "a1": 5, "a2": 6, "a3": 7}

#: Programmable gain: full-scale range in volts -> PGA code (codes 6 and 7 also mean 0.256 V).
PGA = {6.144: 0, 4.096: 1, 2.048: 2, 1.024: 3, 0.512: 4, 0.256: 5}

#: Data rate in samples per second -> DR code.
DATA_RATE_ADS1115 = {8: 0, 16: 1, 32: 2, 64: 3, 128: 4, 250: 5, 475: 6, 860: 7}
DATA_RATE_ADS1015 = {128: 0, 250: 1, 490: 2, 920: 3, 1600: 4, 2400: 5, 3300: 6}

DEFAULT_DATA_RATE = {"ads1115": 128, "ads1015": 1600}
RESOLUTION_BITS = {"ads1115": 16, "ads1015": 12}
