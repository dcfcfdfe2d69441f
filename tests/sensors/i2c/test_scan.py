"""`sensorcast scan`: i2cdetect probe conventions, UU for busy addresses, chip identification, CLI output."""

from __future__ import annotations

import errno
import json

import pytest

from gateway.cli.dispatch import main as cli_main
from sensors.scan import (
    I2C_FUNC_SMBUS_READ_BYTE,
    Identification,
    ScanResult,
    format_grid,
    identify,
    probe,
    scan,
)
from sensors.sim.emulators import simulated_bus
from sensors.sim.i2c.bme280 import BME280Chip
from sensors.sim.i2c.ina219 import INA219Chip
from sensors.sim.smbus import FakeSMBus, RegisterChip


class RecordingBus(FakeSMBus):
    """A fake bus that records which probe call reached each address, and claims some addresses (EBUSY)."""

    def __init__(self, busy: tuple[int, ...] = (), funcs: int | None = None) -> None:
        super().__init__(1)
        self.probes: list[tuple[str, int]] = []
        self.claimed = busy
        if funcs is not None:
            self.funcs = funcs

    def _claim(self, address: int) -> None:
        if address in self.claimed:
            raise OSError(errno.EBUSY, "Device or resource busy")

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None:
        self.probes.append(("quick", i2c_addr))
        self._claim(i2c_addr)
        super().write_quick(i2c_addr)

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int:
        self.probes.append(("read", i2c_addr))
        self._claim(i2c_addr)
        return super().read_byte(i2c_addr)


def test_probe_kind_per_address_range() -> None:
    """Receive-byte for 0x30-0x37 and 0x50-0x5F (EEPROM-safe), quick write elsewhere, as i2cdetect -y does."""
    bus = RecordingBus()
    bus.attach(0x50, RegisterChip())
    bus.attach(0x20, RegisterChip())
    present, busy = probe(bus, [0x2F, 0x30, 0x37, 0x38, 0x4F, 0x50, 0x5F, 0x60, 0x20])
    assert bus.probes == [
        ("quick", 0x2F), ("read", 0x30), ("read", 0x37), ("quick", 0x38), ("quick", 0x4F), ("read", 0x50),
        ("read", 0x5F), ("quick", 0x60), ("quick", 0x20),
    ]  # fmt: skip
    assert (present, busy) == ([0x50, 0x20], [])


def test_busy_addresses_are_uu_and_adapter_without_quick() -> None:
    """EBUSY (a kernel driver owns it) is reported busy; without SMBUS_QUICK every probe is a receive-byte."""
    bus = RecordingBus(busy=(0x68,), funcs=I2C_FUNC_SMBUS_READ_BYTE)
    bus.attach(0x76, BME280Chip())
    present, busy = probe(bus, [0x68, 0x76], bus.funcs)
    assert bus.probes == [("read", 0x68), ("read", 0x76)]
    assert (present, busy) == ([0x76], [0x68])


def test_identify_by_registers_and_by_address() -> None:
    """ID registers and reset values make a certain match; id-less chips are 'likely'; others 'unknown'."""
    bus = FakeSMBus(1)
    bus.attach(0x77, BME280Chip(0x58))
    bus.attach(0x45, INA219Chip())
    bus.attach(0x4A, INA219Chip())
    bus.attach(0x10, RegisterChip())
    assert identify(bus, 0x77) == Identification(0x77, "BMP280", "chip id 0xd0 = 0x58", "bmp280", True)
    assert identify(bus, 0x45).name == "INA219" and identify(bus, 0x45).certain
    assert identify(bus, 0x4A).driver == "ina219"
    assert identify(bus, 0x10) == Identification(0x10, "unknown", "not in sensorcast's table")
    bus.attach(0x76, RegisterChip({0xD0: 0x99}))
    assert identify(bus, 0x76) == Identification(
        0x76, "likely BME280/BMP280", "address only (no readable id)", "bme280", False
    )


def test_simulated_demo_bus_scan() -> None:
    """The demo's emulated bus answers at the six demo addresses, each named with its driver."""
    result = scan(simulated_bus(1), 1)
    assert result.present == [0x23, 0x40, 0x44, 0x48, 0x68, 0x76]
    assert [(i.name, i.driver, i.certain) for i in result.identified] == [
        ("likely BH1750", "bh1750", False), ("INA219", "ina219", True),
        ("likely SHT3x or INA219", "sht3x", False),
        ("ADS1115/ADS1015", "ads1115", True), ("MPU-6050", "mpu6050", True), ("BME280", "bme280", True),
    ]  # fmt: skip
    assert scan(simulated_bus(3), 3).present == []


def test_format_grid_matches_i2cdetect_layout() -> None:
    """Rows of 16, blanks outside the range, hex for present, UU for busy, -- for silent."""
    grid = format_grid(ScanResult(1, [0x08, 0x76], [0x1A], []))
    lines = grid.splitlines()
    assert lines[0] == "     0  1  2  3  4  5  6  7  8  9  a  b  c  d  e  f"
    assert lines[1] == "00:                         08 -- -- -- -- -- -- --"
    assert lines[2] == "10: -- -- -- -- -- -- -- -- -- -- UU -- -- -- -- --"
    assert lines[8] == "70: -- -- -- -- -- -- 76 --                        "
    assert len(lines) == 9


def test_cli_simulated_table(capsys: pytest.CaptureFixture[str]) -> None:
    """`sensorcast scan --simulate` prints the grid and one line per chip, exit 0."""
    assert cli_main(["scan", "--simulate"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("I2C bus 1 (simulated):\n")
    assert "0x76  BME280" in out and 'driver = "bme280"' in out
    assert "60: -- -- -- -- -- -- -- -- 68 --" in out


def test_cli_json_and_errors(capsys: pytest.CaptureFixture[str]) -> None:
    """--json is machine-readable; a missing bus exits 1 with a hint; an inverted range exits 2."""
    assert cli_main(["scan", "--simulate", "--json", "--first", "0x40", "--last", "0x4f"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["present"] == ["0x40", "0x44", "0x48"] and data["simulated"] is True
    assert cli_main(["scan", "--bus", "250"]) == 1
    assert "/dev/i2c-250 not found" in capsys.readouterr().err
    assert cli_main(["scan", "--simulate", "--first", "0x50", "--last", "0x40"]) == 2
    with pytest.raises(SystemExit):
        cli_main(["scan", "--first", "0x99"])
