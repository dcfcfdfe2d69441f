"""TI ADS1115 / ADS1015: configuration word packing and code <-> volts. Pure.

Output coding (SBAS444D table 3; SBAS473E table 3): two's complement, ADS1115 16 bits with 1 LSB = FSR /
2**15; ADS1015 12 bits left-justified in the 16-bit register with 1 LSB = FSR / 2**11. Codes saturate at
0x7FFF / 0x8000 (ADS1015: 0x7FF0 / 0x8000).
"""

from __future__ import annotations

from dataclasses import dataclass

from sensors.i2c import ads1x15_registers as R


def sign_extend(value: int, bits: int) -> int:
    """Interpret the low ``bits`` of ``value`` as two's complement."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


@dataclass(frozen=True, slots=True)
class Config:
    """Fields of the config register (codes, not physical values)."""

    mux: int
    pga: int
    data_rate: int
    single_shot: bool = True
    start: bool = True
    comparator_queue: int = 3


def encode_config(config: Config) -> int:
    """Pack a :class:`Config` into the 16-bit config register value."""
    return (
        (R.OS_START if config.start else 0)
        | (config.mux & 0x7) << 12
        | (config.pga & 0x7) << 9
        | (R.MODE_SINGLE_SHOT if config.single_shot else 0)
        | (config.data_rate & 0x7) << 5
        | (config.comparator_queue & 0x3)
    )


def decode_config(value: int) -> Config:
    """Unpack a config register value (comparator polarity / latch bits are ignored)."""
    return Config(
        mux=(value >> 12) & 0x7,
        pga=(value >> 9) & 0x7,
        data_rate=(value >> 5) & 0x7,
        single_shot=bool(value & R.MODE_SINGLE_SHOT),
        start=bool(value & R.OS_START),
        comparator_queue=value & 0x3,
    )


def full_scale_v(pga: int) -> float:
    """Return the full-scale range of a PGA code (6 and 7 are 0.256 V like 5)."""
    by_code = {code: fsr for fsr, code in R.PGA.items()}
    return by_code[min(pga, 5)]


def volts(register: int, fsr_v: float, bits: int) -> float:
    """Convert a conversion register value to volts for a ``bits``-bit converter at ``fsr_v``."""
    code = sign_extend(register >> (16 - bits), bits)
    return code * fsr_v / (1 << (bits - 1))


def register_for(input_v: float, fsr_v: float, bits: int) -> int:
    """Return the conversion register value the converter produces for ``input_v`` (rounded, saturated)."""
    full = 1 << (bits - 1)
    code = max(-full, min(full - 1, round(input_v * full / fsr_v)))
    return (code & ((1 << bits) - 1)) << (16 - bits)


def conversion_time_s(data_rate_sps: int) -> float:
    """Nominal duration of one conversion; the internal oscillator is accurate to +/-10 %."""
    return 1.0 / data_rate_sps
