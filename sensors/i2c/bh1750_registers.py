"""ROHM BH1750FVI opcodes and timing.

Source: ROHM "BH1750FVI Digital 16bit Serial Output Type Ambient Light Sensor IC", 2011.11 rev. D, pages 5-11.
The chip has no registers: one-byte opcodes are written, two result bytes (MSB first) are read.
"""

from __future__ import annotations

ADDRESSES = (0x23, 0x5C)
"""ADDR pin low (<= 0.3 VCC) -> 0x23, high (>= 0.7 VCC) -> 0x5C."""

POWER_DOWN = 0x00
POWER_ON = 0x01
RESET = 0x07
"""Clears the data register; only accepted in power-on state."""

CONTINUOUS = {"high": 0x10, "high2": 0x11, "low": 0x13}
ONE_TIME = {"high": 0x20, "high2": 0x21, "low": 0x23}

MTREG_DEFAULT = 69
MTREG_MIN = 31
MTREG_MAX = 254
MTREG_HIGH_BITS = 0x40
"""01000_MT[7:5]"""
MTREG_LOW_BITS = 0x60
"""011_MT[4:0]"""

#: Maximum measurement time at the default MTreg (datasheet electrical characteristics: tHR max 180 ms,
#: tLR max 24 ms); it scales linearly with MTreg.
MEASURE_TIME_S = {"high": 0.180, "high2": 0.180, "low": 0.024}
