"""Bosch BME280 / BMP280 driver: temperature, pressure and (BME280) humidity over I2C.

Datasheets: BME280 BST-BME280-DS002 rev 1.6, BMP280 BST-BMP280-DS001 rev 1.14. The chip id (0xD0) decides the
variant, whichever of the two driver names the config used. :meth:`BME280Sensor.open` soft-resets the chip and
re-reads calibration, so a chip that was unplugged and came back is fully re-initialised.
"""

from __future__ import annotations

import dataclasses
import errno
import time
from collections.abc import Callable
from dataclasses import dataclass

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import ImplausibleReading, SensorError, SensorTimeout
from sensors.i2c import bme280_codec as codec
from sensors.i2c import bme280_registers as R
from sensors.i2c.device import I2CDevice, SMBusLike, bus_options, check_plausible, open_bus
from sensors.spec import DeviceSpec

TEMPERATURE = FieldSpec("temperature_c", "°C", device_class="temperature", min=-40.0, max=85.0)
PRESSURE = FieldSpec("pressure_pa", "Pa", device_class="pressure", min=30000.0, max=110000.0)
HUMIDITY = FieldSpec("humidity_pct", "%", device_class="humidity", min=0.0, max=100.0)
FIELDS_BME280 = (TEMPERATURE, PRESSURE, HUMIDITY)
FIELDS_BMP280 = (TEMPERATURE, PRESSURE)

#: Status polls after the computed measurement time before giving up (each 1 ms apart).
STATUS_POLLS = 20


@dataclass(frozen=True, slots=True)
class BME280Settings:
    """Measurement configuration; oversampling as factors (1, 2, 4, 8, 16), filter as its coefficient."""

    mode: str = "forced"
    temperature_oversampling: int = 1
    pressure_oversampling: int = 1
    humidity_oversampling: int = 1
    iir_filter: int = 0
    standby_ms: float = 1000.0


class BME280Sensor(Sensor):
    """A BME280 or BMP280 on an SMBus-like bus.

    Args:
        info: catalogue entry (fields and model are refined by :meth:`open` from the chip id).
        bus: SMBus-like object.
        address: 0x76 or 0x77.
        bus_id: serialisation domain, ``i2c-<n>``.
        settings: measurement configuration.
        sleep: blocking sleep (injected so tests need not wait).
    """

    def __init__(
        self,
        info: SensorInfo,
        bus: SMBusLike,
        address: int,
        bus_id: str,
        settings: BME280Settings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(info)
        self.bus_id = bus_id
        self.device = I2CDevice(bus, address, bus_id)
        self.settings = settings or BME280Settings()
        self._sleep = sleep
        self.calibration: codec.Calibration | None = None
        self.chip_id: int | None = None

    @property
    def has_humidity(self) -> bool:
        """True once :meth:`open` identified a BME280."""
        return self.chip_id == R.CHIP_ID_BME280

    def open(self) -> None:
        """Identify the chip, soft-reset it, read its calibration and write the configuration."""
        self.calibration = None
        chip_id = self.device.read_u8(R.REG_CHIP_ID)
        fields: tuple[FieldSpec, ...]
        if chip_id == R.CHIP_ID_BME280:
            model, fields = "BME280", FIELDS_BME280
        elif chip_id in R.CHIP_IDS_BMP280:
            model, fields = "BMP280", FIELDS_BMP280
        else:
            raise SensorError(
                errno.ENODEV,
                f"{self.bus_id} {self.device.address:#04x}: chip id {chip_id:#04x} is neither BME280 (0x60) "
                "nor BMP280 (0x58)",
            )
        self.chip_id = chip_id
        self.info = dataclasses.replace(self.info, model=model, fields=fields)
        self.device.write_u8(R.REG_RESET, R.RESET_WORD)
        self._sleep(0.002)  # start-up time after reset, datasheet table 1
        self._wait_status(R.STATUS_IM_UPDATE, "NVM copy after reset")
        calib26 = self.device.read_block(R.REG_CALIB26, R.CALIB26_LEN) if self.has_humidity else None
        calibration = codec.parse_calibration(self.device.read_block(R.REG_CALIB00, R.CALIB00_LEN), calib26)
        s = self.settings
        standby = R.STANDBY_BME280_MS if self.has_humidity else R.STANDBY_BMP280_MS
        t_sb = standby.get(s.standby_ms, 5)
        self.device.write_u8(R.REG_CONFIG, codec.encode_config(t_sb, R.FILTER[s.iir_filter]))
        if self.has_humidity:  # takes effect only after the following ctrl_meas write (datasheet 5.4.3)
            self.device.write_u8(R.REG_CTRL_HUM, R.OVERSAMPLING[s.humidity_oversampling])
        mode = R.MODE_NORMAL if s.mode == "normal" else R.MODE_SLEEP
        self.device.write_u8(R.REG_CTRL_MEAS, self._ctrl_meas(mode))
        self.calibration = calibration

    def _ctrl_meas(self, mode: int) -> int:
        s = self.settings
        return codec.encode_ctrl_meas(
            R.OVERSAMPLING[s.temperature_oversampling], R.OVERSAMPLING[s.pressure_oversampling], mode
        )

    def _wait_status(self, bit: int, what: str) -> None:
        for _ in range(STATUS_POLLS):
            if not self.device.read_u8(R.REG_STATUS) & bit:
                return
            self._sleep(0.001)
        raise SensorTimeout(
            errno.ETIMEDOUT, f"{self.bus_id} {self.device.address:#04x}: {what} never finished"
        )

    def measurement_time_s(self) -> float:
        """Maximum duration of one conversion with the configured oversampling."""
        s = self.settings
        return codec.measurement_time_s(
            s.temperature_oversampling,
            s.pressure_oversampling,
            s.humidity_oversampling if self.has_humidity else 0,
        )

    def read(self) -> Values:
        """Take one reading (forced mode: trigger, wait, poll; normal mode: read the latest conversion).

        Raises:
            SensorError: bus error, or :meth:`open` has not succeeded.
            ImplausibleReading: a channel holds the 'skipped' pattern or a value outside its plausible range.
        """
        cal = self.calibration
        if cal is None:
            raise SensorError(errno.ENODEV, f"{self.bus_id} {self.device.address:#04x}: not initialised")
        if self.settings.mode == "forced":
            self.device.write_u8(R.REG_CTRL_MEAS, self._ctrl_meas(R.MODE_FORCED))
            self._sleep(self.measurement_time_s())
            self._wait_status(R.STATUS_MEASURING, "conversion")
        data = self.device.read_block(R.REG_DATA, 8 if self.has_humidity else 6)
        sample = codec.parse_raw(data)
        if codec.is_skipped(sample):
            raise ImplausibleReading(
                errno.ERANGE, f"{self.info.id}: 'measurement skipped' pattern {data.hex()}"
            )
        temperature_c, t_fine = codec.compensate_temperature(sample.adc_t, cal)
        pressure_pa = codec.compensate_pressure(sample.adc_p, t_fine, cal)
        if pressure_pa is None:
            raise ImplausibleReading(errno.ERANGE, f"{self.info.id}: calibration dig_P1 is zero")
        values: dict[str, float] = {
            "temperature_c": round(temperature_c, 2),
            "pressure_pa": round(pressure_pa, 1),
        }
        if sample.adc_h is not None:
            values["humidity_pct"] = round(codec.compensate_humidity(sample.adc_h, t_fine, cal), 2)
        check_plausible(self.info.fields, values, self.info.id)
        return values


OPTIONS = (
    "bus", "address", "mode", "temperature_oversampling", "pressure_oversampling", "humidity_oversampling",
    "iir_filter", "standby_ms",
)  # fmt: skip


def settings_from_spec(spec: DeviceSpec) -> BME280Settings:
    """Validate the measurement options of ``spec``."""
    factors = [k for k in R.OVERSAMPLING if k]
    values: dict[str, int] = {}
    for name in ("temperature_oversampling", "pressure_oversampling", "humidity_oversampling"):
        value = spec.opt_int(name, 1)
        if value not in factors:
            raise spec.error(name, f"expected one of {', '.join(map(str, factors))}, got {value!r}")
        values[name] = value
    iir = spec.opt_int("iir_filter", 0)
    if iir not in R.FILTER:
        raise spec.error("iir_filter", f"expected one of {', '.join(map(str, R.FILTER))}, got {iir!r}")
    standby_ms = spec.opt_float("standby_ms", 1000.0)
    allowed = R.STANDBY_BME280_MS if spec.driver == "bme280" else R.STANDBY_BMP280_MS
    if standby_ms not in allowed:
        raise spec.error(
            "standby_ms", f"expected one of {', '.join(f'{v:g}' for v in allowed)}, got {standby_ms:g}"
        )
    mode = spec.opt_str("mode", "forced", choices=("forced", "normal"))
    return BME280Settings(mode, iir_filter=iir, standby_ms=standby_ms, **values)


def build(spec: DeviceSpec, ctx: BuildContext) -> BME280Sensor:
    """Build a ``bme280`` / ``bmp280`` sensor. Options: see docs/sensors/i2c.md."""
    spec.check_unknown(OPTIONS)
    bus, address = bus_options(spec, 0x76, R.ADDRESSES)
    settings = settings_from_spec(spec)

    smbus = open_bus(
        spec, ctx, bus, address, "bme280", chip_id=R.CHIP_ID_BME280 if spec.driver == "bme280" else 0x58
    )
    is_bme = spec.driver == "bme280"
    info = SensorInfo(
        spec.id, spec.driver, FIELDS_BME280 if is_bme else FIELDS_BMP280, spec.interval_s,
        simulated=spec.simulate or ctx.simulate, model="BME280" if is_bme else "BMP280",
        description="Bosch barometric pressure / temperature / humidity sensor",
    )  # fmt: skip
    return BME280Sensor(info, smbus, address, f"i2c-{bus}", settings, sleep=ctx.sleep)
