"""ROHM BH1750: count to lux, MTreg opcodes, measurement time. Pure.

Source: BH1750FVI datasheet rev. D, page 7 ("Illuminance per 1 count = 1 / 1.2 * (69 / X)", X = MTreg; halved
again in H-resolution mode 2) and page 11 (MTreg opcodes).
"""

from __future__ import annotations

from sensors.i2c import bh1750_registers as R

MEASUREMENT_ACCURACY = 1.2
"""Typical count-per-lux ratio of the datasheet formula (the chip's calibration is 0.96..1.44)."""


def lux_per_count(mode: str, mtreg: int = R.MTREG_DEFAULT) -> float:
    """Return the illuminance of one count in ``mode`` (``high``, ``high2``, ``low``) at ``mtreg``."""
    lux = 1.0 / MEASUREMENT_ACCURACY * (R.MTREG_DEFAULT / mtreg)
    return lux / 2.0 if mode == "high2" else lux


def lux(raw: int, mode: str, mtreg: int = R.MTREG_DEFAULT) -> float:
    """Convert the 16-bit result to lux."""
    return raw * lux_per_count(mode, mtreg)


def raw_count(illuminance_lx: float, mode: str, mtreg: int = R.MTREG_DEFAULT) -> int:
    """Inverse of :func:`lux`, rounded and saturated at 0..0xFFFF like the chip's counter."""
    return max(0, min(0xFFFF, round(illuminance_lx / lux_per_count(mode, mtreg))))


def mtreg_opcodes(mtreg: int) -> tuple[int, int]:
    """Return the two opcodes that set the measurement time register to ``mtreg``."""
    if not R.MTREG_MIN <= mtreg <= R.MTREG_MAX:
        raise ValueError(f"MTreg must be {R.MTREG_MIN}..{R.MTREG_MAX}, got {mtreg}")
    return R.MTREG_HIGH_BITS | (mtreg >> 5), R.MTREG_LOW_BITS | (mtreg & 0x1F)


def decode_mtreg_opcode(opcode: int, mtreg: int) -> int | None:
    """Apply an MTreg opcode to the current ``mtreg``; None if ``opcode`` is not an MTreg opcode."""
    if opcode & 0xF8 == R.MTREG_HIGH_BITS:
        return ((opcode & 0x07) << 5) | (mtreg & 0x1F)
    if opcode & 0xE0 == R.MTREG_LOW_BITS:
        return (mtreg & 0xE0) | (opcode & 0x1F)
    return None


def measurement_time_s(mode: str, mtreg: int = R.MTREG_DEFAULT) -> float:
    """Maximum conversion time for ``mode`` at ``mtreg``."""
    return R.MEASURE_TIME_S[mode] * mtreg / R.MTREG_DEFAULT
