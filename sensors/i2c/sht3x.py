"""Sensirion SHT3x (SHT30/SHT31/SHT35) driver: single-shot, clock stretching off, CRC on every word.

Datasheet: Sensirion "Datasheet SHT3x-DIS" v7. Without clock stretching the chip NACKs the read header until
the conversion is done; the driver waits the maximum duration for the configured repeatability, then
retries the read a few times on NACK before reporting the error.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import SensorError
from sensors.i2c import sht3x_codec as codec
from sensors.i2c import sht3x_registers as R
from sensors.i2c.device import I2CDevice, SMBusLike, bus_options, check_plausible, open_bus
from sensors.spec import DeviceSpec

FIELDS = (
    FieldSpec("temperature_c", "°C", device_class="temperature", min=-40.0, max=125.0),
    FieldSpec("humidity_pct", "%", device_class="humidity", min=0.0, max=100.0),
)

#: Extra read attempts (1 ms apart) when the chip still NACKs after the datasheet's maximum duration.
NOT_READY_RETRIES = 3


class SHT3xSensor(Sensor):
    """An SHT3x on an SMBus-like bus.

    Args:
        info: catalogue entry.
        bus: SMBus-like object.
        address: 0x44 or 0x45.
        bus_id: serialisation domain, ``i2c-<n>``.
        repeatability: ``high``, ``medium`` or ``low`` (noise vs. measurement time).
        sleep: blocking sleep (injected so tests need not wait).
    """

    def __init__(
        self,
        info: SensorInfo,
        bus: SMBusLike,
        address: int,
        bus_id: str,
        repeatability: str = "high",
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(info)
        self.bus_id = bus_id
        self.device = I2CDevice(bus, address, bus_id)
        self.repeatability = repeatability
        self._sleep = sleep
        self.status: int | None = None

    def _command(self, command: int) -> None:
        self.device.send(codec.command_bytes(command))

    def _receive(self, length: int) -> bytes:
        for attempt in range(NOT_READY_RETRIES + 1):
            try:
                return self.device.receive(length)
            except SensorError as exc:
                if exc.errno != errno.EREMOTEIO or attempt == NOT_READY_RETRIES:
                    raise
                self._sleep(0.001)
        raise AssertionError("unreachable")  # pragma: no cover

    def open(self) -> None:
        """Soft-reset the chip, check its status word (CRC proves it is an SHT3x) and clear the status."""
        self._command(R.CMD_SOFT_RESET)
        self._sleep(R.SOFT_RESET_TIME_S)
        self._command(R.CMD_READ_STATUS)
        (self.status,) = codec.parse_words(self._receive(3))
        self._command(R.CMD_CLEAR_STATUS)

    def read(self) -> Values:
        """Take one single-shot measurement.

        Raises:
            SensorError: bus error or the chip never finished.
            ChecksumError: a word failed its CRC (a corrupted transfer).
        """
        self._command(R.MEASURE_SINGLE_SHOT[self.repeatability])
        self._sleep(R.MEASURE_DURATION_S[self.repeatability])
        raw_t, raw_h = codec.parse_words(self._receive(6))
        values = {
            "temperature_c": round(codec.temperature_c(raw_t), 2),
            "humidity_pct": round(codec.humidity_pct(raw_h), 2),
        }
        check_plausible(self.info.fields, values, self.info.id)
        return values


def build(spec: DeviceSpec, ctx: BuildContext) -> SHT3xSensor:
    """Build an ``sht3x`` sensor. Options: ``bus``, ``address``, ``repeatability``."""
    spec.check_unknown(["bus", "address", "repeatability"])
    bus, address = bus_options(spec, 0x44, R.ADDRESSES)
    repeatability = spec.opt_str("repeatability", "high", choices=tuple(R.MEASURE_SINGLE_SHOT))

    smbus = open_bus(spec, ctx, bus, address, "sht3x")
    info = SensorInfo(
        spec.id, spec.driver, FIELDS, spec.interval_s, simulated=spec.simulate or ctx.simulate, model="SHT3x",
        description="Sensirion temperature / humidity sensor",
    )  # fmt: skip
    return SHT3xSensor(info, smbus, address, f"i2c-{bus}", repeatability, sleep=ctx.sleep)
