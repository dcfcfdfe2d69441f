"""ROHM BH1750FVI ambient light sensor driver (lux).

Datasheet: ROHM BH1750FVI rev. D (2011.11). One-time mode (the default) re-sends the measurement time register
before every conversion, so a chip that lost power mid-run still measures with the configured sensitivity;
continuous mode trades that for one transaction per reading.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.i2c import bh1750_codec as codec
from sensors.i2c import bh1750_registers as R
from sensors.i2c.device import I2CDevice, SMBusLike, bus_options, check_plausible, open_bus
from sensors.spec import DeviceSpec

#: Largest representable value: 65535 counts at MTreg 31 in low / high resolution.
MAX_LUX = 65535 * codec.lux_per_count("high", R.MTREG_MIN)
FIELDS = (FieldSpec("illuminance_lx", "lx", device_class="illuminance", min=0.0, max=round(MAX_LUX + 1)),)


class BH1750Sensor(Sensor):
    """A BH1750 on an SMBus-like bus.

    Args:
        info: catalogue entry.
        bus: SMBus-like object.
        address: 0x23 or 0x5C.
        bus_id: serialisation domain, ``i2c-<n>``.
        resolution: ``high`` (1 lx), ``high2`` (0.5 lx) or ``low`` (4 lx, 16 ms).
        mtreg: measurement time register 31..254 (sensitivity x mtreg/69, time likewise).
        continuous: continuous measurement instead of one conversion per read.
        sleep: blocking sleep (injected so tests need not wait).
    """

    def __init__(
        self,
        info: SensorInfo,
        bus: SMBusLike,
        address: int,
        bus_id: str,
        resolution: str = "high",
        mtreg: int = R.MTREG_DEFAULT,
        continuous: bool = False,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(info)
        self.bus_id = bus_id
        self.device = I2CDevice(bus, address, bus_id)
        self.resolution = resolution
        self.mtreg = mtreg
        self.continuous = continuous
        self._sleep = sleep

    def _set_mtreg(self) -> None:
        high, low = codec.mtreg_opcodes(self.mtreg)
        self.device.send([high])
        self.device.send([low])

    def open(self) -> None:
        """Power on, reset the data register, set MTreg and (continuous mode) start measuring."""
        self.device.send([R.POWER_ON])
        self.device.send([R.RESET])
        self._set_mtreg()
        if self.continuous:
            self.device.send([R.CONTINUOUS[self.resolution]])
            self._sleep(codec.measurement_time_s(self.resolution, self.mtreg))

    def read(self) -> Values:
        """Return ``illuminance_lx`` (one-time mode: set MTreg, trigger, wait the maximum time, read)."""
        if not self.continuous:
            self._set_mtreg()
            self.device.send([R.ONE_TIME[self.resolution]])
            self._sleep(codec.measurement_time_s(self.resolution, self.mtreg))
        data = self.device.receive(2)
        values = {
            "illuminance_lx": round(codec.lux((data[0] << 8) | data[1], self.resolution, self.mtreg), 2)
        }
        check_plausible(self.info.fields, values, self.info.id)
        return values


def build(spec: DeviceSpec, ctx: BuildContext) -> BH1750Sensor:
    """Build a ``bh1750`` sensor. Options: ``bus``, ``address``, ``resolution``, ``mtreg``, ``continuous``."""
    spec.check_unknown(["bus", "address", "resolution", "mtreg", "continuous"])
    bus, address = bus_options(spec, 0x23, R.ADDRESSES)
    resolution = spec.opt_str("resolution", "high", choices=tuple(R.ONE_TIME))
    mtreg = spec.opt_int("mtreg", R.MTREG_DEFAULT, min=R.MTREG_MIN, max=R.MTREG_MAX)
    continuous = spec.opt_bool("continuous", False)

    smbus = open_bus(spec, ctx, bus, address, "bh1750")
    info = SensorInfo(
        spec.id, spec.driver, FIELDS, spec.interval_s, simulated=spec.simulate or ctx.simulate,
        model="BH1750", description="ROHM ambient light sensor",
    )  # fmt: skip
    return BH1750Sensor(info, smbus, address, f"i2c-{bus}", resolution, mtreg, continuous, sleep=ctx.sleep)
