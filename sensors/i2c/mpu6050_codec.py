"""InvenSense MPU-6050: sample parsing, sensitivity scaling, sample-rate arithmetic. Pure.

Sensitivities from PS-MPU-6000A-00 rev. 3.4 tables 6.1 and 6.2 (16384 / 8192 / 4096 / 2048 LSB/g;
131 / 65.5 / 32.8 / 16.4 LSB/(deg/s)); temperature = raw / 340 + 36.53 (RM-MPU-6000A-00 section 4.18).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sensors.i2c import mpu6050_registers as R

STANDARD_GRAVITY_MS2 = 9.80665
_SAMPLE = struct.Struct(">7h")

ACCEL_LSB_PER_G = {2: 16384.0, 4: 8192.0, 8: 4096.0, 16: 2048.0}
GYRO_LSB_PER_DPS = {250: 131.0, 500: 65.5, 1000: 32.8, 2000: 16.4}


@dataclass(frozen=True, slots=True)
class RawSample:
    """One sample as signed register values."""

    accel_x: int
    accel_y: int
    accel_z: int
    temperature: int
    gyro_x: int
    gyro_y: int
    gyro_z: int


def parse_sample(data: bytes) -> RawSample:
    """Unpack 14 bytes (0x3B..0x48, or one FIFO sample with every sensor enabled)."""
    return RawSample(*_SAMPLE.unpack(data))


def encode_sample(sample: RawSample) -> bytes:
    """Inverse of :func:`parse_sample`."""
    return _SAMPLE.pack(
        sample.accel_x, sample.accel_y, sample.accel_z, sample.temperature,
        sample.gyro_x, sample.gyro_y, sample.gyro_z,
    )  # fmt: skip


def parse_fifo(data: bytes) -> list[RawSample]:
    """Split a FIFO burst into samples (a trailing partial sample is ignored)."""
    usable = len(data) - len(data) % R.SAMPLE_BYTES
    return [parse_sample(data[i : i + R.SAMPLE_BYTES]) for i in range(0, usable, R.SAMPLE_BYTES)]


def temperature_c(raw: int) -> float:
    """Die temperature from the TEMP_OUT register."""
    return raw / 340.0 + 36.53


def raw_temperature(temperature: float) -> int:
    """Inverse of :func:`temperature_c`, rounded and saturated to int16."""
    return saturate16(round((temperature - 36.53) * 340.0))


def saturate16(value: int) -> int:
    """Clamp to the int16 range, as the chip's output registers saturate."""
    return max(-32768, min(32767, value))


def to_values(sample: RawSample, accel_range_g: int, gyro_range_dps: int) -> dict[str, float]:
    """Scale a raw sample to m/s^2, deg/s and deg C."""
    a = STANDARD_GRAVITY_MS2 / ACCEL_LSB_PER_G[accel_range_g]
    g = 1.0 / GYRO_LSB_PER_DPS[gyro_range_dps]
    return {
        "accel_x_ms2": round(sample.accel_x * a, 4),
        "accel_y_ms2": round(sample.accel_y * a, 4),
        "accel_z_ms2": round(sample.accel_z * a, 4),
        "gyro_x_dps": round(sample.gyro_x * g, 3),
        "gyro_y_dps": round(sample.gyro_y * g, 3),
        "gyro_z_dps": round(sample.gyro_z * g, 3),
        "temperature_c": round(temperature_c(sample.temperature), 2),
    }


def gyro_output_rate_hz(dlpf_cfg: int) -> int:
    """Gyroscope output rate: 8 kHz with the DLPF off (cfg 0 or 7), else 1 kHz."""
    return 8000 if dlpf_cfg in (0, 7) else 1000


def sample_rate_hz(divider: int, dlpf_cfg: int) -> float:
    """Sample rate = gyro output rate / (1 + SMPLRT_DIV)."""
    return gyro_output_rate_hz(dlpf_cfg) / (1 + divider)


def divider_for(rate_hz: float, dlpf_cfg: int) -> int:
    """Return the SMPLRT_DIV giving exactly ``rate_hz``.

    Raises:
        ValueError: the rate is not gyro_rate / n for n in 1..256.
    """
    base = gyro_output_rate_hz(dlpf_cfg)
    divider = round(base / rate_hz) - 1
    if not 0 <= divider <= 255 or abs(sample_rate_hz(divider, dlpf_cfg) - rate_hz) > 1e-9 * rate_hz:
        raise ValueError(f"{rate_hz:g} Hz is not {base} Hz / n for n in 1..256")
    return divider


def range_code(value: int, ranges: tuple[int, ...]) -> int:
    """Return the FS_SEL / AFS_SEL code of a full-scale range (its index)."""
    return ranges.index(value)
