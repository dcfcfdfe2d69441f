"""The I2C drivers against real chips on a real bus (skipped unless pytest is given --run-hardware).

Chips that are not wired are skipped one by one; list the ones you wired in SENSORCAST_HW_I2C (for example
``bme280,sht3x,mpu6050``) to turn "not found" into a failure. See tests/hardware/README.md.
"""

from __future__ import annotations

import errno
import math
import os
import time
from collections.abc import Iterator
from typing import Any

import pytest

from sensors.base import BuildContext, Values
from sensors.errors import SensorError
from sensors.i2c.ads1x15 import build as build_ads
from sensors.i2c.bh1750 import build as build_bh1750
from sensors.i2c.bme280 import build as build_bme280
from sensors.i2c.ina219 import build as build_ina219
from sensors.i2c.mpu6050 import build as build_mpu6050
from sensors.i2c.sht3x import build as build_sht3x
from sensors.scan import identify, scan
from sensors.sim.emulators import context_with_emulators
from sensors.spec import DeviceSpec
from tests.conftest import scaled

pytestmark = pytest.mark.hardware

BUS = int(os.environ.get("SENSORCAST_HW_I2C_BUS", "1"))
REQUIRED = {c.strip() for c in os.environ.get("SENSORCAST_HW_I2C", "").split(",") if c.strip()}


@pytest.fixture(scope="module")
def smbus(hw_ctx: BuildContext) -> Iterator[Any]:
    """/dev/i2c-N from the build context: real, recorded (--record) or replayed (--replay)."""
    yield hw_ctx.i2c_bus(BUS, simulate=False)


@pytest.fixture(scope="module")
def found(smbus: Any) -> dict[str, int]:
    """driver name -> address, for every chip the scan identified with certainty or by address."""
    result = scan(smbus, BUS)
    return {i.driver: i.address for i in reversed(result.identified) if i.driver}


def address_of(found: dict[str, int], driver: str) -> int:
    if driver in found:
        return found[driver]
    if driver in REQUIRED:
        pytest.fail(f"{driver} listed in SENSORCAST_HW_I2C but not found on i2c-{BUS}")
    pytest.skip(f"no {driver} on i2c-{BUS}")


def build(
    factory: Any, driver: str, address: int, smbus: Any, interval_s: float = 1.0, **options: Any
) -> Any:
    # The shared bus is the fixture's, already recorded or replayed when asked: the driver uses it as given.
    ctx = context_with_emulators(resources={f"bus:i2c-{BUS}": smbus})
    options = {"bus": BUS, "address": address, **options}
    spec = DeviceSpec(f"hw-{driver}", driver, "sensors[0]", interval_s, False, options)
    return factory(spec, ctx)


def read_n(sensor: Any, n: int, pause_s: float = 0.05) -> list[Values]:
    sensor.open()
    out = []
    for _ in range(n):
        out.append(sensor.read())
        time.sleep(pause_s)
    return out


def test_scan_finds_something(smbus: Any) -> None:
    """At least one device answers, and an empty address NACKs with errno 121 (or ENXIO on some adapters)."""
    result = scan(smbus, BUS)
    assert result.present, f"nothing answered on i2c-{BUS}: check wiring and pull-ups"
    empty = next(a for a in range(0x08, 0x78) if a not in result.present and a not in result.busy)
    with pytest.raises(OSError) as info:
        smbus.write_quick(empty) if not 0x50 <= empty <= 0x5F else smbus.read_byte(empty)
    assert info.value.errno in (errno.EREMOTEIO, errno.ENXIO, errno.EIO)
    for address in result.present:
        assert identify(smbus, address).address == address


@pytest.mark.parametrize("mode", ["forced", "normal"])
def test_bme280(smbus: Any, found: dict[str, int], mode: str) -> None:
    """A BME280/BMP280 reads room-plausible values in both modes; consecutive readings agree."""
    address = found.get("bme280", found.get("bmp280")) or address_of(found, "bme280")
    sensor = build(build_bme280, "bme280", address, smbus, mode=mode, standby_ms=62.5)
    readings = read_n(sensor, 5, 0.1)
    for values in readings:
        assert -10.0 < float(values["temperature_c"] or 0) < 45.0
        assert 80_000.0 < float(values["pressure_pa"] or 0) < 106_000.0
        if "humidity_pct" in values:
            assert 1.0 < float(values["humidity_pct"] or 0) < 99.0
    temps = [float(v["temperature_c"] or 0) for v in readings]
    assert max(temps) - min(temps) < 1.0


def test_sht3x(smbus: Any, found: dict[str, int]) -> None:
    """An SHT3x passes CRC on every word and reads room-plausible values."""
    sensor = build(build_sht3x, "sht3x", address_of(found, "sht3x"), smbus)
    for values in read_n(sensor, 5):
        assert -10.0 < float(values["temperature_c"] or 0) < 45.0
        assert 1.0 < float(values["humidity_pct"] or 0) < 99.0
    assert sensor.status is not None


def test_bh1750_resolutions_agree(smbus: Any, found: dict[str, int]) -> None:
    """High and low resolution readings of the same light agree within 20 % + 8 lx."""
    address = address_of(found, "bh1750")
    high = read_n(build(build_bh1750, "bh1750", address, smbus), 1)[0]["illuminance_lx"]
    low = read_n(build(build_bh1750, "bh1750", address, smbus, resolution="low"), 1)[0]["illuminance_lx"]
    assert isinstance(high, float) and isinstance(low, float)
    assert abs(high - low) <= 0.2 * max(high, low) + 8.0


def test_ads1115(smbus: Any, found: dict[str, int]) -> None:
    """All four single-ended inputs convert within the supply range at 860 SPS in well under a second."""
    sensor = build(build_ads, "ads1115", address_of(found, "ads1115"), smbus, data_rate_sps=860)
    start = time.monotonic()
    values = read_n(sensor, 1, 0)[0]
    assert time.monotonic() - start < scaled(0.5)
    assert set(values) == {"a0_v", "a1_v", "a2_v", "a3_v"}
    assert all(-0.3 <= float(v or 0) <= 5.5 for v in values.values())


def test_ina219(smbus: Any, found: dict[str, int]) -> None:
    """The calibration sticks, and bus voltage, current and power are consistent (P ~ V * I)."""
    sensor = build(build_ina219, "ina219", address_of(found, "ina219"), smbus)
    for values in read_n(sensor, 3):
        bus_v, current, power = (float(values[k] or 0) for k in ("bus_voltage_v", "current_a", "power_w"))
        assert 0.0 <= bus_v <= 26.0
        assert power == pytest.approx(abs(bus_v * current), abs=0.05 + 0.05 * power)


def test_mpu6050_at_rest(smbus: Any, found: dict[str, int]) -> None:
    """Lying still, the acceleration magnitude is 1 g +/- 15 % and rotation is below 10 deg/s."""
    sensor = build(build_mpu6050, "mpu6050", address_of(found, "mpu6050"), smbus)
    for values in read_n(sensor, 5):
        g = math.sqrt(sum(float(values[f"accel_{a}_ms2"] or 0) ** 2 for a in "xyz"))
        assert g == pytest.approx(9.81, rel=0.15)
        assert all(abs(float(values[f"gyro_{a}_dps"] or 0)) < 10.0 for a in "xyz")


def test_mpu6050_fifo_500hz(smbus: Any, found: dict[str, int]) -> None:
    """FIFO mode at 500 Hz: ~50 samples per 0.1 s arrive in one burst each, with no overflow."""
    sensor = build(build_mpu6050, "mpu6050", address_of(found, "mpu6050"), smbus, interval_s=0.1, fifo=True,
                   sample_rate_hz=500.0)  # fmt: skip
    pushed: list[int | None] = []
    sensor.attach(lambda _values, ts_ns: pushed.append(ts_ns))
    sensor.open()
    time.sleep(0.1)
    sensor.read()  # drain what accumulated during open
    start_samples = sensor.samples_read
    start = time.monotonic()
    for _ in range(10):
        time.sleep(0.1)
        sensor.read()
    elapsed = time.monotonic() - start
    got = sensor.samples_read - start_samples
    assert sensor.fifo_overflows == 0
    assert got == pytest.approx(500 * elapsed, rel=0.1)
    assert len(pushed) >= got - 11


def test_missing_chip_is_a_sensor_error(smbus: Any) -> None:
    """A driver pointed at an address where nothing answers fails open() with SensorError errno 121/ENXIO."""
    result = scan(smbus, BUS, 0x76, 0x77)
    free = next((a for a in (0x76, 0x77) if a not in result.present), None)
    if free is None:
        pytest.skip("both BME280 addresses are in use")
    with pytest.raises(SensorError) as info:
        build(build_bme280, "bme280", free, smbus).open()
    assert info.value.errno in (errno.EREMOTEIO, errno.ENXIO, errno.EIO)
