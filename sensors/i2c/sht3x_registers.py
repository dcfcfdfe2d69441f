"""Sensirion SHT3x (SHT30/SHT31/SHT35) command set.

Source: Sensirion "Datasheet SHT3x-DIS", version 7 (December 2022), sections 4.3-4.12.
The SHT3x has no register file: 16-bit commands are sent MSB first and results read as 16-bit words, each
followed by a CRC-8 byte.
"""

from __future__ import annotations

ADDRESSES = (0x44, 0x45)
"""ADDR pin to VSS -> 0x44 (default), to VDD -> 0x45."""

#: Single shot, clock stretching disabled, by repeatability (datasheet table 9).
MEASURE_SINGLE_SHOT = {"high": 0x2400, "medium": 0x240B, "low": 0x2416}
#: Single shot with clock stretching: not used (many I2C masters, including the Pi's, mishandle stretching).
MEASURE_SINGLE_SHOT_STRETCH = {"high": 0x2C06, "medium": 0x2C0D, "low": 0x2C10}

#: Maximum measurement duration in seconds by repeatability (datasheet table 4).
MEASURE_DURATION_S = {"high": 0.0155, "medium": 0.0065, "low": 0.0045}

CMD_SOFT_RESET = 0x30A2
CMD_READ_STATUS = 0xF32D
CMD_CLEAR_STATUS = 0x3041
CMD_HEATER_ENABLE = 0x306D
CMD_HEATER_DISABLE = 0x3066
CMD_BREAK = 0x3093

SOFT_RESET_TIME_S = 0.0015

STATUS_ALERT = 1 << 15
STATUS_HEATER = 1 << 13
STATUS_RESET_DETECTED = 1 << 4
STATUS_COMMAND_FAILED = 1 << 1
STATUS_WRITE_CRC_FAILED = 1 << 0

CRC_POLYNOMIAL = 0x31
CRC_INIT = 0xFF
