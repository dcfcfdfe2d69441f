"""Probe an I2C bus the way ``i2cdetect`` does, and name the chips sensorcast knows.

Probing follows i2cdetect's "auto" mode: addresses 0x30-0x37 and 0x50-0x5F are probed with an SMBus *receive
byte* (a quick write there can change the write-protect state of some EEPROMs), every other address with a
*quick write* (no data at all). An address claimed by a kernel driver answers EBUSY and is shown as ``UU``;
it is not touched further. The default range is i2cdetect's 0x08-0x77 (reserved addresses excluded).

Identification only reads: ID registers where a chip has one (BME280/BMP280 0xD0, MPU-6050 0x75), reset
values of configuration registers otherwise (INA219, ADS1x15), and plain address matches for chips with no
readable identity (BH1750, SHT3x), which are reported as "likely".
"""

from __future__ import annotations

import errno
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

FIRST_ADDRESS = 0x08
LAST_ADDRESS = 0x77

I2C_FUNC_SMBUS_QUICK = 0x00010000
I2C_FUNC_SMBUS_READ_BYTE = 0x00020000


def uses_read_byte(address: int) -> bool:
    """True where i2cdetect's auto mode probes with receive-byte instead of quick-write."""
    return 0x30 <= address <= 0x37 or 0x50 <= address <= 0x5F


@dataclass(frozen=True, slots=True)
class Identification:
    """What answered at an address.

    Attributes:
        address: 7-bit address.
        name: chip name, or a ``/``-separated list of candidates.
        evidence: how it was recognised (``chip id 0xd0 = 0x60``, ``address only``).
        driver: sensorcast driver name, when one fits.
        certain: True when an ID register or reset value confirmed the chip.
    """

    address: int
    name: str
    evidence: str
    driver: str | None = None
    certain: bool = False


@dataclass(slots=True)
class ScanResult:
    """Probe outcome: ``present`` answered, ``busy`` are claimed by a kernel driver (UU)."""

    bus: int
    present: list[int]
    busy: list[int]
    identified: list[Identification]


def probe(bus: Any, addresses: Iterable[int], funcs: int | None = None) -> tuple[list[int], list[int]]:
    """Probe ``addresses``; return (present, busy).

    Args:
        bus: SMBus-like object (``write_quick`` and ``read_byte``).
        addresses: 7-bit addresses to probe, in order.
        funcs: adapter functionality bits (``smbus2.SMBus.funcs``); None assumes both probe kinds work.
    """
    quick_ok = funcs is None or bool(funcs & I2C_FUNC_SMBUS_QUICK)
    read_ok = funcs is None or bool(funcs & I2C_FUNC_SMBUS_READ_BYTE)
    present: list[int] = []
    busy: list[int] = []
    for address in addresses:
        use_read = (uses_read_byte(address) and read_ok) or not quick_ok
        try:
            if use_read:
                bus.read_byte(address)
            else:
                bus.write_quick(address)
        except OSError as exc:
            if exc.errno == errno.EBUSY:
                busy.append(address)
            continue
        present.append(address)
    return present, busy


def _read_u8(bus: Any, address: int, register: int) -> int | None:
    try:
        return int(bus.read_byte_data(address, register))
    except OSError:
        return None


def _read_be16(bus: Any, address: int, register: int) -> int | None:
    try:
        data = bus.read_i2c_block_data(address, register, 2)
    except OSError:
        return None
    return (int(data[0]) << 8) | int(data[1])


def _bosch(bus: Any, address: int) -> Identification | None:
    chip_id = _read_u8(bus, address, 0xD0)
    names = {0x60: ("BME280", "bme280"), 0x58: ("BMP280", "bmp280"), 0x56: ("BMP280", "bmp280"),
             0x57: ("BMP280", "bmp280"), 0x61: ("BME680", None)}  # fmt: skip
    if chip_id in names:
        name, driver = names[chip_id]
        return Identification(address, name, f"chip id 0xd0 = {chip_id:#04x}", driver, True)
    return None


def _invensense(bus: Any, address: int) -> Identification | None:
    who = _read_u8(bus, address, 0x75)
    names = {0x68: ("MPU-6050", "mpu6050"), 0x70: ("MPU-6500", None), 0x71: ("MPU-9250", None)}
    if who in names:
        name, driver = names[who]
        return Identification(address, name, f"WHO_AM_I 0x75 = {who:#04x}", driver, True)
    return None


def _ina219(bus: Any, address: int) -> Identification | None:
    if _read_be16(bus, address, 0x00) == 0x399F:
        return Identification(address, "INA219", "config 0x00 = 0x399f (reset value)", "ina219", True)
    return None


def _ads1x15(bus: Any, address: int) -> Identification | None:
    if _read_be16(bus, address, 0x01) == 0x8583:
        return Identification(
            address, "ADS1115/ADS1015", "config 0x01 = 0x8583 (reset value)", "ads1115", True
        )
    return None


Prober = Callable[[Any, int], Identification | None]

#: address -> (probers tried in order, fallback candidates named by address alone)
KNOWN: dict[int, tuple[tuple[Prober, ...], tuple[tuple[str, str | None], ...]]] = {
    0x23: ((), (("BH1750", "bh1750"),)),
    0x5C: ((), (("BH1750", "bh1750"),)),
    0x44: ((_ina219,), (("SHT3x", "sht3x"), ("INA219", "ina219"))),
    0x45: ((_ina219,), (("SHT3x", "sht3x"), ("INA219", "ina219"))),
    0x76: ((_bosch,), (("BME280/BMP280", "bme280"),)),
    0x77: ((_bosch,), (("BME280/BMP280", "bme280"),)),
    0x68: ((_invensense,), (("MPU-6050", "mpu6050"), ("DS3231/DS1307 RTC", None))),
    0x69: ((_invensense,), (("MPU-6050", "mpu6050"),)),
}
for _a in range(0x40, 0x50):
    if _a not in KNOWN:
        ads = 0x48 <= _a <= 0x4B
        KNOWN[_a] = (
            (_ina219, _ads1x15) if ads else (_ina219,),
            (("INA219", "ina219"), ("ADS1115/ADS1015", "ads1115")) if ads else (("INA219", "ina219"),),
        )


def identify(bus: Any, address: int) -> Identification:
    """Name what answered at ``address`` (read-only probes)."""
    probers, fallback = KNOWN.get(address, ((), ()))
    for prober in probers:
        found = prober(bus, address)
        if found is not None:
            return found
    if not fallback:
        return Identification(address, "unknown", "not in sensorcast's table")
    name = " or ".join(n for n, _ in fallback)
    return Identification(address, f"likely {name}", "address only (no readable id)", fallback[0][1])


def scan(bus: Any, bus_number: int, first: int = FIRST_ADDRESS, last: int = LAST_ADDRESS) -> ScanResult:
    """Probe ``first..last`` and identify everything present."""
    present, busy = probe(bus, range(first, last + 1), getattr(bus, "funcs", None))
    return ScanResult(bus_number, present, busy, [identify(bus, a) for a in present])


def format_grid(result: ScanResult, first: int = FIRST_ADDRESS, last: int = LAST_ADDRESS) -> str:
    """Render the i2cdetect table: hex address if present, ``UU`` if busy, ``--`` if silent."""
    lines = ["     " + "  ".join(f"{c:x}" for c in range(16))]
    for row in range(0, 0x80, 0x10):
        cells = []
        for address in range(row, row + 0x10):
            if not first <= address <= last:
                cells.append("  ")
            elif address in result.busy:
                cells.append("UU")
            elif address in result.present:
                cells.append(f"{address:02x}")
            else:
                cells.append("--")
        lines.append(f"{row:02x}: " + " ".join(cells))
    return "\n".join(lines)
