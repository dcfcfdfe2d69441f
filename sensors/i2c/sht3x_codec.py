"""Sensirion SHT3x: CRC-8 and signal conversion. Pure.

Source: Sensirion "Datasheet SHT3x-DIS" v7, section 4.12 (CRC: polynomial 0x31, init 0xFF, no reflection,
no final XOR; CRC(0xBEEF) = 0x92) and section 4.13 (conversion formulas).
"""

from __future__ import annotations

from sensors.errors import ChecksumError
from sensors.i2c import sht3x_registers as R


def crc8(data: bytes) -> int:
    """Return the Sensirion CRC-8 of ``data``."""
    crc = R.CRC_INIT
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ R.CRC_POLYNOMIAL) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


def encode_words(words: list[int]) -> bytes:
    """Return 16-bit ``words`` as the chip sends them: MSB, LSB, CRC for each."""
    out = bytearray()
    for word in words:
        pair = bytes([(word >> 8) & 0xFF, word & 0xFF])
        out += pair + bytes([crc8(pair)])
    return bytes(out)


def parse_words(data: bytes) -> list[int]:
    """Split ``data`` into CRC-checked 16-bit words.

    Raises:
        ChecksumError: a word's CRC byte does not match (names the word index and both CRCs).
    """
    if len(data) % 3:
        raise ChecksumError(0, f"SHT3x answer of {len(data)} bytes is not a whole number of words")
    words = []
    for i in range(0, len(data), 3):
        pair, crc = data[i : i + 2], data[i + 2]
        expected = crc8(pair)
        if crc != expected:
            raise ChecksumError(0, f"SHT3x word {i // 3}: CRC {crc:#04x}, expected {expected:#04x}")
        words.append((pair[0] << 8) | pair[1])
    return words


def temperature_c(raw: int) -> float:
    """Convert a raw temperature word: T = -45 + 175 * S_T / 65535."""
    return -45.0 + 175.0 * raw / 65535.0


def humidity_pct(raw: int) -> float:
    """Convert a raw humidity word: RH = 100 * S_RH / 65535."""
    return 100.0 * raw / 65535.0


def raw_temperature(temperature: float) -> int:
    """Inverse of :func:`temperature_c`, rounded and clamped to 16 bits."""
    return max(0, min(0xFFFF, round((temperature + 45.0) * 65535.0 / 175.0)))


def raw_humidity(humidity: float) -> int:
    """Inverse of :func:`humidity_pct`, rounded and clamped to 16 bits."""
    return max(0, min(0xFFFF, round(humidity * 65535.0 / 100.0)))


def command_bytes(command: int) -> list[int]:
    """Return a 16-bit command as the two bytes sent MSB first."""
    return [(command >> 8) & 0xFF, command & 0xFF]
