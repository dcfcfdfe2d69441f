"""InvenSense MPU-6050 accelerometer / gyroscope / die-temperature driver, with a FIFO burst mode.

Datasheets: RM-MPU-6000A-00 rev. 4.2, PS-MPU-6000A-00 rev. 3.4. In the default mode each read is one 14-byte
block read of the latest sample. In FIFO mode (``fifo = true``) the chip samples at ``sample_rate_hz`` (up to
1 kHz) into its 1024-byte FIFO and every poll drains it in ONE combined I2C transfer; each sample is pushed
with its own timestamp through ``emit``, so 200-1000 Hz sampling costs one bus transaction per poll, not per
sample.
"""

from __future__ import annotations

import errno
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass

from sensors.base import BuildContext, Emit, FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import ImplausibleReading, SensorError
from sensors.i2c import mpu6050_codec as codec
from sensors.i2c import mpu6050_registers as R
from sensors.i2c.device import I2CDevice, SMBusLike, bus_options, check_plausible, open_bus
from sensors.spec import DeviceSpec

log = logging.getLogger(__name__)

#: FIFO fill allowed per poll at the configured rate; the rest is headroom for a late poll.
FIFO_BUDGET_BYTES = 700
#: Gyroscope start-up time after wake (PS-MPU-6000A-00 table 6.1, typical 30 ms).
STARTUP_S = 0.030


@dataclass(frozen=True, slots=True)
class MPU6050Settings:
    """Measurement configuration."""

    accel_range_g: int = 2
    gyro_range_dps: int = 250
    dlpf_hz: int = 44
    sample_rate_hz: float = 100.0
    fifo: bool = False

    @property
    def divider(self) -> int:
        """SMPLRT_DIV for the sample rate."""
        return codec.divider_for(self.sample_rate_hz, R.DLPF_HZ[self.dlpf_hz])

    def fields(self) -> tuple[FieldSpec, ...]:
        """Fields with the full-scale ranges as plausibility limits."""
        a = self.accel_range_g * codec.STANDARD_GRAVITY_MS2
        g = float(self.gyro_range_dps)
        return (
            *(FieldSpec(f"accel_{axis}_ms2", "m/s²", min=-a, max=a) for axis in "xyz"),
            *(FieldSpec(f"gyro_{axis}_dps", "°/s", min=-g, max=g) for axis in "xyz"),
            FieldSpec("temperature_c", "°C", device_class="temperature", min=-40.0, max=85.0),
        )


class MPU6050Sensor(Sensor):
    """An MPU-6050 on an SMBus-like bus.

    Args:
        info: catalogue entry.
        bus: SMBus-like object.
        address: 0x68 or 0x69.
        bus_id: serialisation domain, ``i2c-<n>``.
        settings: measurement configuration.
        sleep: blocking sleep (injected so tests need not wait).
        clock_ns: wall clock for FIFO sample timestamps.
    """

    def __init__(
        self,
        info: SensorInfo,
        bus: SMBusLike,
        address: int,
        bus_id: str,
        settings: MPU6050Settings | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        super().__init__(info)
        self.bus_id = bus_id
        self.device = I2CDevice(bus, address, bus_id)
        self.settings = settings or MPU6050Settings()
        self._sleep = sleep
        self._clock_ns = clock_ns
        self._emit: Emit | None = None
        self.fifo_overflows = 0
        self.samples_read = 0
        self.bursts = 0

    def attach(self, emit: Emit) -> None:
        """Keep the push callback used for all but the newest FIFO sample of a burst."""
        self._emit = emit

    def open(self) -> None:
        """Check WHO_AM_I, reset, wake on the gyro PLL, configure ranges / filter / rate, start the FIFO."""
        who = self.device.read_u8(R.REG_WHO_AM_I)
        if who != R.WHO_AM_I:
            raise SensorError(
                errno.ENODEV, f"{self.bus_id} {self.device.address:#04x}: WHO_AM_I {who:#04x}, expected 0x68"
            )
        s = self.settings
        self.device.write_u8(R.REG_PWR_MGMT_1, R.PWR_DEVICE_RESET)
        self._sleep(R.RESET_TIME_S)
        self.device.write_u8(R.REG_PWR_MGMT_1, R.PWR_CLKSEL_PLL_XGYRO)
        self.device.write_u8(R.REG_SMPLRT_DIV, s.divider)
        self.device.write_u8(R.REG_CONFIG, R.DLPF_HZ[s.dlpf_hz])
        self.device.write_u8(R.REG_GYRO_CONFIG, codec.range_code(s.gyro_range_dps, R.GYRO_RANGES_DPS) << 3)
        self.device.write_u8(R.REG_ACCEL_CONFIG, codec.range_code(s.accel_range_g, R.ACCEL_RANGES_G) << 3)
        if s.fifo:
            self._reset_fifo()
            self.device.write_u8(R.REG_FIFO_EN, R.FIFO_EN_ALL)
        self.device.read_u8(R.REG_INT_STATUS)  # clear stale flags
        # Gyro start-up (30 ms, PS section 6.1) plus two sample periods: the data registers read 0 until then.
        self._sleep(STARTUP_S + 2.0 / s.sample_rate_hz)

    def _reset_fifo(self) -> None:
        self.device.write_u8(R.REG_USER_CTRL, R.USER_CTRL_FIFO_RESET)
        self.device.write_u8(R.REG_USER_CTRL, R.USER_CTRL_FIFO_EN)

    def _values(self, raw: codec.RawSample) -> dict[str, float]:
        values = codec.to_values(raw, self.settings.accel_range_g, self.settings.gyro_range_dps)
        check_plausible(self.info.fields, values, self.info.id)
        return values

    def _check_awake(self) -> None:
        # A chip that lost power comes back asleep with frozen (zero) data: plausible-looking and wrong.
        if self.device.read_u8(R.REG_PWR_MGMT_1) & R.PWR_SLEEP:
            raise SensorError(errno.EIO, f"{self.bus_id} {self.device.address:#04x}: asleep; chip was reset")

    def read(self) -> Values:
        """Return the newest sample; in FIFO mode, push the older samples of the burst through ``emit``.

        Raises:
            SensorError: bus error, or the chip was reset (found asleep): the poller re-opens it.
            ImplausibleReading: a value outside its full-scale range.
        """
        if not self.settings.fifo:
            self._check_awake()
            data = self.device.read_block(R.REG_ACCEL_XOUT_H, R.SAMPLE_BYTES)
            if not any(data):  # gravity alone makes an all-zero sample impossible: no sample yet, or a reset
                raise ImplausibleReading(errno.ERANGE, f"{self.info.id}: all-zero sample (no data yet)")
            return self._values(codec.parse_sample(data))
        return self._read_fifo()

    def _read_fifo(self) -> Values:
        if self.device.read_u8(R.REG_INT_STATUS) & R.INT_FIFO_OFLOW:
            # Samples were lost and the byte stream may be misaligned: start over on a sample boundary.
            self.fifo_overflows += 1
            log.warning("%s: MPU-6050 FIFO overflow #%d; FIFO reset", self.info.id, self.fifo_overflows)
            self._reset_fifo()
            return {}
        count = self.device.read_be16(R.REG_FIFO_COUNT_H)
        n = count // R.SAMPLE_BYTES
        if n == 0:
            self._check_awake()
            return {}
        now_ns = self._clock_ns()
        samples = codec.parse_fifo(self.device.read_long(R.REG_FIFO_R_W, n * R.SAMPLE_BYTES))
        self.bursts += 1
        self.samples_read += n
        period_ns = round(1e9 / self.settings.sample_rate_hz)
        values = [self._values(raw) for raw in samples]
        if self._emit is not None:
            for i, sample_values in enumerate(values[:-1]):
                self._emit(sample_values, now_ns - (n - 1 - i) * period_ns)
        return values[-1]


OPTIONS = ("bus", "address", "accel_range_g", "gyro_range_dps", "dlpf_hz", "sample_rate_hz", "fifo")


def settings_from_spec(spec: DeviceSpec) -> MPU6050Settings:
    """Validate the measurement options of ``spec``."""

    def choice(name: str, default: int, allowed: tuple[int, ...]) -> int:
        value = spec.opt_int(name, default)
        if value not in allowed:
            raise spec.error(name, f"expected one of {', '.join(map(str, allowed))}, got {value}")
        return value

    accel = choice("accel_range_g", 2, R.ACCEL_RANGES_G)
    gyro = choice("gyro_range_dps", 250, R.GYRO_RANGES_DPS)
    dlpf = choice("dlpf_hz", 44, tuple(R.DLPF_HZ))
    fifo = spec.opt_bool("fifo", False)
    rate = spec.opt_float("sample_rate_hz", 1000.0 if fifo else 100.0, min=4.0, max=1000.0)
    settings = MPU6050Settings(accel, gyro, dlpf, rate, fifo)
    try:
        settings.divider  # noqa: B018 - validates the rate
    except ValueError as exc:
        raise spec.error("sample_rate_hz", str(exc)) from exc
    if fifo and spec.interval_s * rate * R.SAMPLE_BYTES > FIFO_BUDGET_BYTES:
        most = FIFO_BUDGET_BYTES / (rate * R.SAMPLE_BYTES)
        raise spec.error(
            "interval_s",
            f"the 1024-byte FIFO overflows at {rate:g} Hz unless polled every {most:.3f} s or faster",
        )
    return settings


def build(spec: DeviceSpec, ctx: BuildContext) -> MPU6050Sensor:
    """Build an ``mpu6050`` sensor. Options: see docs/sensors/i2c.md."""
    spec.check_unknown(OPTIONS)
    bus, address = bus_options(spec, 0x68, R.ADDRESSES)
    settings = settings_from_spec(spec)

    smbus = open_bus(spec, ctx, bus, address, "mpu6050")
    # In FIFO mode every sample of a burst is a reading: the catalogue states the sample rate, not the poll rate.
    per_poll = max(1, round(spec.interval_s * settings.sample_rate_hz)) if settings.fifo else 1
    info = SensorInfo(
        spec.id, spec.driver, settings.fields(), spec.interval_s, simulated=spec.simulate or ctx.simulate,
        model="MPU-6050", description="InvenSense 6-axis IMU", readings_per_poll=per_poll,
    )  # fmt: skip
    return MPU6050Sensor(info, smbus, address, f"i2c-{bus}", settings, sleep=ctx.sleep)
