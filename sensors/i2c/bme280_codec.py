"""Bosch BME280 / BMP280: pure parsing, packing and compensation. No I/O, no state.

Compensation is the datasheet's double-precision variant (BME280 DS002 rev 1.6 section 8.1, BMP280 DS001
rev 1.14 section 8.1). ``t_fine`` is returned, never stored, so pressure and humidity take it explicitly.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from sensors.i2c import bme280_registers as R

_CALIB00 = struct.Struct("<HhhHhhhhhhhhxB")
_CALIB26_HEAD = struct.Struct("<hB")


def sign_extend(value: int, bits: int) -> int:
    """Interpret the low ``bits`` of ``value`` as a two's complement number."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value & (1 << (bits - 1)) else value


@dataclass(frozen=True, slots=True)
class Calibration:
    """Factory trimming parameters (``dig_*``); humidity ones are zero on a BMP280."""

    t1: int
    t2: int
    t3: int
    p1: int
    p2: int
    p3: int
    p4: int
    p5: int
    p6: int
    p7: int
    p8: int
    p9: int
    h1: int = 0
    h2: int = 0
    h3: int = 0
    h4: int = 0
    h5: int = 0
    h6: int = 0


def parse_calibration(calib00: bytes, calib26: bytes | None = None) -> Calibration:
    """Unpack registers 0x88..0xA1 and (BME280) 0xE1..0xE7 into a :class:`Calibration`.

    dig_H4 and dig_H5 are signed 12-bit values sharing register 0xE5 (H4 = E4[7:0]:E5[3:0],
    H5 = E6[7:0]:E5[7:4]); the sign comes from the 0xE4 / 0xE6 byte.
    """
    t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9, h1 = _CALIB00.unpack(calib00)
    if calib26 is None:
        return Calibration(t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9)
    h2, h3 = _CALIB26_HEAD.unpack_from(calib26)
    e4, e5, e6 = calib26[3], calib26[4], calib26[5]
    h4 = sign_extend((e4 << 4) | (e5 & 0x0F), 12)
    h5 = sign_extend((e6 << 4) | (e5 >> 4), 12)
    h6 = sign_extend(calib26[6], 8)
    return Calibration(t1, t2, t3, p1, p2, p3, p4, p5, p6, p7, p8, p9, h1, h2, h3, h4, h5, h6)


def encode_calibration(cal: Calibration) -> tuple[bytes, bytes]:
    """Return the (0x88.., 0xE1..) register images of ``cal``; the inverse of :func:`parse_calibration`."""
    calib00 = _CALIB00.pack(
        cal.t1, cal.t2, cal.t3, cal.p1, cal.p2, cal.p3, cal.p4, cal.p5, cal.p6, cal.p7, cal.p8, cal.p9, cal.h1
    )
    h4 = cal.h4 & 0xFFF
    h5 = cal.h5 & 0xFFF
    calib26 = _CALIB26_HEAD.pack(cal.h2, cal.h3) + bytes(
        [h4 >> 4, ((h5 & 0x0F) << 4) | (h4 & 0x0F), h5 >> 4, cal.h6 & 0xFF]
    )
    return calib00, calib26


@dataclass(frozen=True, slots=True)
class RawSample:
    """Uncompensated ADC values; ``adc_h`` is None on a BMP280 (no humidity registers)."""

    adc_t: int
    adc_p: int
    adc_h: int | None = None


def parse_raw(data: bytes) -> RawSample:
    """Unpack the burst read from 0xF7: 6 bytes (BMP280) or 8 bytes (BME280)."""
    adc_p = (data[0] << 12) | (data[1] << 4) | (data[2] >> 4)
    adc_t = (data[3] << 12) | (data[4] << 4) | (data[5] >> 4)
    adc_h = (data[6] << 8) | data[7] if len(data) >= 8 else None
    return RawSample(adc_t, adc_p, adc_h)


def encode_raw(sample: RawSample) -> bytes:
    """Return the 0xF7.. register image of ``sample``; the inverse of :func:`parse_raw`."""

    def u20(v: int) -> bytes:
        return bytes([(v >> 12) & 0xFF, (v >> 4) & 0xFF, (v & 0x0F) << 4])

    out = u20(sample.adc_p) + u20(sample.adc_t)
    if sample.adc_h is not None:
        out += bytes([(sample.adc_h >> 8) & 0xFF, sample.adc_h & 0xFF])
    return out


def compensate_temperature(adc_t: int, cal: Calibration) -> tuple[float, float]:
    """Return (temperature °C, t_fine) for the 20-bit ``adc_t``.

    ``t_fine`` stays a float: the datasheet's worked example (p = 100653.27 Pa) is computed with the
    untruncated value; truncating it as Bosch's C reference does gives 100653.26 Pa.
    """
    var1 = (adc_t / 16384.0 - cal.t1 / 1024.0) * cal.t2
    var2 = (adc_t / 131072.0 - cal.t1 / 8192.0) ** 2 * cal.t3
    t_fine = var1 + var2
    return t_fine / 5120.0, t_fine


def compensate_pressure(adc_p: int, t_fine: float, cal: Calibration) -> float | None:
    """Return pressure in Pa for the 20-bit ``adc_p``, or None where the datasheet divides by zero."""
    var1 = t_fine / 2.0 - 64000.0
    var2 = var1 * var1 * cal.p6 / 32768.0
    var2 = var2 + var1 * cal.p5 * 2.0
    var2 = var2 / 4.0 + cal.p4 * 65536.0
    var1 = (cal.p3 * var1 * var1 / 524288.0 + cal.p2 * var1) / 524288.0
    var1 = (1.0 + var1 / 32768.0) * cal.p1
    if var1 == 0.0:
        return None
    p = 1048576.0 - adc_p
    p = (p - var2 / 4096.0) * 6250.0 / var1
    var1 = cal.p9 * p * p / 2147483648.0
    var2 = p * cal.p8 / 32768.0
    return p + (var1 + var2 + cal.p7) / 16.0


def compensate_humidity(adc_h: int, t_fine: float, cal: Calibration) -> float:
    """Return relative humidity in % (clamped to 0..100, as the datasheet does) for the 16-bit ``adc_h``."""
    h = t_fine - 76800.0
    h = (adc_h - (cal.h4 * 64.0 + cal.h5 / 16384.0 * h)) * (
        cal.h2 / 65536.0 * (1.0 + cal.h6 / 67108864.0 * h * (1.0 + cal.h3 / 67108864.0 * h))
    )
    h = h * (1.0 - cal.h1 * h / 524288.0)
    return min(100.0, max(0.0, h))


def encode_ctrl_meas(osrs_t: int, osrs_p: int, mode: int) -> int:
    """Pack ctrl_meas (0xF4): osrs_t[7:5], osrs_p[4:2], mode[1:0] (codes, not factors)."""
    return ((osrs_t & 0x7) << 5) | ((osrs_p & 0x7) << 2) | (mode & 0x3)


def decode_ctrl_meas(value: int) -> tuple[int, int, int]:
    """Unpack ctrl_meas into (osrs_t, osrs_p, mode) codes."""
    return (value >> 5) & 0x7, (value >> 2) & 0x7, value & 0x3


def encode_config(t_sb: int, filter_code: int) -> int:
    """Pack config (0xF5): t_sb[7:5], filter[4:2], spi3w_en = 0."""
    return ((t_sb & 0x7) << 5) | ((filter_code & 0x7) << 2)


def decode_config(value: int) -> tuple[int, int]:
    """Unpack config into (t_sb, filter) codes."""
    return (value >> 5) & 0x7, (value >> 2) & 0x7


def measurement_time_s(os_t: int, os_p: int, os_h: int) -> float:
    """Maximum measurement time for oversampling *factors* (0 = skipped), datasheet appendix B."""
    ms = 1.25 + 2.3 * os_t
    if os_p:
        ms += 2.3 * os_p + 0.575
    if os_h:
        ms += 2.3 * os_h + 0.575
    return ms / 1000.0


def oversampling_factor(code: int) -> int:
    """Return the oversampling factor of an osrs_x code (0 -> skipped, 1..5 -> 1..16, >5 -> 16)."""
    return 0 if code == 0 else 1 << (min(code, 5) - 1)


def is_skipped(sample: RawSample) -> bool:
    """True if any channel holds the 'measurement skipped' / reset pattern."""
    return R.SKIPPED_20BIT in (sample.adc_t, sample.adc_p) or sample.adc_h == R.SKIPPED_16BIT
