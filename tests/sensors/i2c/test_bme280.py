"""BME280/BMP280 driver on the emulated bus: init, modes, chip-id detection, faults, config errors."""

from __future__ import annotations

import errno
import random
import threading

import pytest

from sensors.base import SensorInfo
from sensors.errors import ConfigError, ImplausibleReading, SensorError
from sensors.i2c import bme280_registers as R
from sensors.i2c.bme280 import FIELDS_BME280, BME280Sensor, BME280Settings, build
from sensors.sim.emulators import context_with_emulators
from sensors.sim.i2c.bme280 import BME280Chip
from sensors.sim.smbus import FakeSMBus
from sensors.spec import DeviceSpec
from tests.conftest import scaled


def make(
    chip_id: int = R.CHIP_ID_BME280, settings: BME280Settings | None = None, seed: int = 1
) -> tuple[BME280Sensor, FakeSMBus, BME280Chip]:
    bus = FakeSMBus(1, rng=random.Random(seed))
    chip = bus.attach(0x76, BME280Chip(chip_id, clock=lambda: 100.0))
    assert isinstance(chip, BME280Chip)
    info = SensorInfo("env", "bme280", FIELDS_BME280, 1.0, simulated=True, model="BME280")
    return BME280Sensor(info, bus, 0x76, "i2c-1", settings, sleep=lambda _s: None), bus, chip


def test_open_sequence_on_the_wire() -> None:
    """open() reads the chip id, soft-resets, waits for NVM copy, reads both calibration blocks, configures"""
    sensor, bus, _chip = make(
        settings=BME280Settings(iir_filter=4, standby_ms=125.0, humidity_oversampling=2)
    )
    sensor.open()
    assert bus.writes(0x76) == [
        bytes([0xD0]), bytes([0xE0, 0xB6]), bytes([0xF3]), bytes([0xE1]), bytes([0x88]),
        bytes([0xF5, 0b010_010_00]), bytes([0xF2, 0b010]), bytes([0xF4, 0b001_001_00]),
    ]  # fmt: skip
    assert sensor.info.model == "BME280"
    assert [f.name for f in sensor.info.fields] == ["temperature_c", "pressure_pa", "humidity_pct"]


def test_forced_read_round_trips_physical_values() -> None:
    """A forced-mode read triggers one conversion and decodes what the emulated chip was exposed to."""
    sensor, bus, chip = make()
    sensor.open()
    start = len(bus.writes(0x76))
    values = sensor.read()
    t, p, h = chip.physical()
    assert values["temperature_c"] == pytest.approx(t, abs=0.01)
    assert values["pressure_pa"] == pytest.approx(p, abs=0.5)
    assert values["humidity_pct"] == pytest.approx(h, abs=0.05)
    assert bus.writes(0x76)[start:] == [
        bytes([0xF4, 0b001_001_01]),
        bytes([0xF3]),
        bytes([0xF3]),
        bytes([0xF7]),
    ]
    assert chip.measurements == 1


def test_normal_mode_reads_without_trigger() -> None:
    """In normal mode open() starts cyclic conversions and read() only burst-reads the data registers."""
    sensor, bus, chip = make(settings=BME280Settings(mode="normal", temperature_oversampling=2))
    sensor.open()
    assert bus.writes(0x76)[-1] == bytes([0xF4, 0b010_001_11])
    start = len(bus.writes(0x76))
    values = [sensor.read() for _ in range(3)]
    assert bus.writes(0x76)[start:] == [bytes([0xF7])] * 3
    assert all(v["temperature_c"] == pytest.approx(chip.physical()[0], abs=0.01) for v in values)


def test_bmp280_is_detected_by_chip_id() -> None:
    """A BMP280 (0x58) answering where a BME280 was configured reports temperature and pressure only."""
    sensor, bus, _chip = make(chip_id=0x58)
    sensor.open()
    assert sensor.info.model == "BMP280"
    assert bytes([0xE1]) not in bus.writes(0x76)
    assert sorted(sensor.read()) == ["pressure_pa", "temperature_c"]


def test_unknown_chip_id_is_refused() -> None:
    """A chip id that is neither BME280 nor BMP280 fails open() with ENODEV."""
    sensor, _bus, _chip = make(chip_id=0x55)
    with pytest.raises(SensorError) as info:
        sensor.open()
    assert info.value.errno == errno.ENODEV
    assert "0x55" in str(info.value)


def test_read_before_open_fails() -> None:
    """read() without a successful open() is a SensorError, not an AttributeError."""
    sensor, _bus, _chip = make()
    with pytest.raises(SensorError):
        sensor.read()


@pytest.mark.parametrize(("kind", "code", "count"), [("nack", errno.EREMOTEIO, 2), ("eio", errno.EIO, 1)])
def test_bus_errors_become_sensor_errors(kind: str, code: int, count: int) -> None:
    """A NACK or EIO during a read raises SensorError with the bus errno; the next read works again."""
    sensor, bus, _chip = make()
    sensor.open()
    bus.inject(kind, 0x76, count)  # type: ignore[arg-type]
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert info.value.errno == code
    assert "i2c-1 0x76" in str(info.value)
    assert set(sensor.read()) == {"temperature_c", "pressure_pa", "humidity_pct"}


def test_chip_power_cycle_shows_skipped_pattern_until_reinit() -> None:
    """A chip that disappears NACKs; back (reset, sleep mode) data reads the 0x80000 pattern, flagged
    implausible; open() re-initialises it and readings resume."""
    sensor, bus, _chip = make(settings=BME280Settings(mode="normal"))
    sensor.open()
    sensor.read()
    bus.disappear(0x76)
    with pytest.raises(SensorError) as info:
        sensor.read()
    assert info.value.errno == errno.EREMOTEIO
    bus.reappear(0x76)
    with pytest.raises(ImplausibleReading):
        sensor.read()
    sensor.open()
    assert set(sensor.read()) == {"temperature_c", "pressure_pa", "humidity_pct"}


def test_garbage_never_published_out_of_range() -> None:
    """With garbage on every read, each reading either fails as implausible/bad or has all fields in range."""
    sensor, bus, _chip = make(settings=BME280Settings(mode="normal"), seed=7)
    sensor.open()
    bus.inject("garbage", 0x76, count=None)
    implausible = 0
    for _ in range(300):
        try:
            values = sensor.read()
        except ImplausibleReading:
            implausible += 1
            continue
        assert -40.0 <= float(values["temperature_c"] or 0) <= 85.0
        assert 30000.0 <= float(values["pressure_pa"] or 0) <= 110000.0
        assert 0.0 <= float(values["humidity_pct"] or 0) <= 100.0
    assert implausible > 200


def test_stuck_bus_blocks_until_released() -> None:
    """A stuck bus blocks the read (the poller's timeout abandons it); after release the read completes."""
    sensor, bus, _chip = make()
    sensor.open()
    bus.stick()
    results: list[object] = []
    worker = threading.Thread(target=lambda: results.append(sensor.read()), daemon=True)
    worker.start()
    worker.join(scaled(0.2))
    assert worker.is_alive() and results == []
    bus.release()
    worker.join(scaled(5))
    assert not worker.is_alive()
    assert len(results) == 1


def spec(driver: str = "bme280", **options: object) -> DeviceSpec:
    return DeviceSpec("env", driver, "sensors[0]", 1.0, True, options)


def test_build_simulated_shares_bus_and_reads() -> None:
    """Two simulated sensors on bus 1 share one fake bus; each reads through its own emulator."""
    ctx = context_with_emulators()
    a = build(spec(address=0x76), ctx)
    b = build(spec("bmp280", address=0x77, mode="normal"), ctx)
    fake = ctx.resources["sim-i2c-1"]
    assert isinstance(fake, FakeSMBus)
    assert sorted(fake.chips) == [0x76, 0x77]
    assert (a.bus_id, b.bus_id) == ("i2c-1", "i2c-1")
    a.open()
    b.open()
    assert set(a.read()) == {"temperature_c", "pressure_pa", "humidity_pct"}
    assert set(b.read()) == {"temperature_c", "pressure_pa"}


@pytest.mark.parametrize(
    ("options", "key", "fragment"),
    [
        ({"address": 0x40}, "sensors[0].address", "0x76, 0x77"),
        ({"temperature_oversampling": 3}, "sensors[0].temperature_oversampling", "1, 2, 4, 8, 16"),
        ({"iir_filter": 5}, "sensors[0].iir_filter", "0, 2, 4, 8, 16"),
        ({"standby_ms": 2000}, "sensors[0].standby_ms", "got 2000"),
        ({"mode": "auto"}, "sensors[0].mode", "'forced', 'normal'"),
        ({"adress": 0x76}, "sensors[0].adress", "unknown option"),
    ],
)
def test_build_rejects_bad_options(options: dict[str, object], key: str, fragment: str) -> None:
    """Each invalid option names its key and what was expected."""
    with pytest.raises(ConfigError) as info:
        build(spec(**options), context_with_emulators())
    assert info.value.key == key
    assert fragment in info.value.message


def test_same_simulated_address_twice_is_a_config_error() -> None:
    """Two simulated sensors cannot sit at the same address of one bus."""
    ctx = context_with_emulators()
    build(spec(), ctx)
    with pytest.raises(ConfigError, match="already used"):
        build(spec(), ctx)
