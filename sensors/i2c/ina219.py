"""TI INA219 current / power monitor driver: bus voltage, shunt voltage, current and power.

Datasheet: TI SBOS448G. The calibration register is computed from the shunt resistance and the maximum
expected current (datasheet equations 1-3); it is read back on every poll, because a chip that browned out
comes back with calibration 0 and would otherwise report 0 A forever.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import ImplausibleReading, SensorError
from sensors.i2c import ina219_codec as codec
from sensors.i2c import ina219_registers as R
from sensors.i2c.device import I2CDevice, SMBusLike, bus_options, check_plausible, open_bus
from sensors.spec import DeviceSpec


@dataclass(frozen=True, slots=True)
class INA219Settings:
    """Electrical setup; ``current_lsb_a`` None picks a round LSB from ``max_current_a``."""

    shunt_ohm: float = 0.1
    max_current_a: float = 3.2
    bus_range_v: int = 32
    adc_samples: int = 1
    current_lsb_a: float | None = None

    @property
    def lsb_a(self) -> float:
        """The current LSB in use."""
        return self.current_lsb_a or codec.round_current_lsb_a(self.max_current_a)

    @property
    def shunt_range_v(self) -> float:
        """PGA range holding the maximum current."""
        return codec.shunt_range_for(self.max_current_a, self.shunt_ohm)

    @property
    def calibration(self) -> int:
        """Calibration register value."""
        return codec.calibration_value(self.lsb_a, self.shunt_ohm)

    @property
    def config(self) -> int:
        """Configuration register value (continuous shunt and bus conversions)."""
        adc = R.ADC_SAMPLES[self.adc_samples]
        return codec.encode_config(
            self.bus_range_v, self.shunt_range_v, adc, adc, R.MODE_SHUNT_AND_BUS_CONTINUOUS
        )

    def fields(self) -> tuple[FieldSpec, ...]:
        """Fields with plausible ranges derived from the configured ranges."""
        i_max = round(self.shunt_range_v / self.shunt_ohm, 9)
        return (
            FieldSpec("bus_voltage_v", "V", device_class="voltage", min=0.0, max=float(self.bus_range_v)),
            FieldSpec("shunt_voltage_v", "V", device_class="voltage", min=-self.shunt_range_v,
                      max=self.shunt_range_v),
            FieldSpec("current_a", "A", device_class="current", min=-i_max, max=i_max),
            FieldSpec("power_w", "W", device_class="power", min=0.0, max=self.bus_range_v * i_max),
        )  # fmt: skip


class INA219Sensor(Sensor):
    """An INA219 on an SMBus-like bus.

    Args:
        info: catalogue entry.
        bus: SMBus-like object.
        address: 0x40..0x4F.
        bus_id: serialisation domain, ``i2c-<n>``.
        settings: electrical setup.
    """

    def __init__(
        self,
        info: SensorInfo,
        bus: SMBusLike,
        address: int,
        bus_id: str,
        settings: INA219Settings | None = None,
    ) -> None:
        super().__init__(info)
        self.bus_id = bus_id
        self.device = I2CDevice(bus, address, bus_id)
        self.settings = settings or INA219Settings()

    def _where(self) -> str:
        return f"{self.bus_id} {self.device.address:#04x}"

    def open(self) -> None:
        """Reset the chip, write configuration and calibration, and verify the calibration read back."""
        self.device.write_be16(R.REG_CONFIG, R.CONFIG_RST)
        self.device.write_be16(R.REG_CONFIG, self.settings.config)
        self.device.write_be16(R.REG_CALIBRATION, self.settings.calibration)
        readback = self.device.read_be16(R.REG_CALIBRATION)
        if readback != self.settings.calibration:
            raise SensorError(
                errno.EIO, f"{self._where()}: calibration read back {readback:#06x}, wrote "
                f"{self.settings.calibration:#06x} (not an INA219?)",
            )  # fmt: skip

    def read(self) -> Values:
        """Read bus and shunt voltage, current and power.

        Raises:
            SensorError: bus error, or the calibration was lost (chip reset): the poller re-opens it.
            ImplausibleReading: the chip's math overflow flag is set.
        """
        cal = self.device.read_be16(R.REG_CALIBRATION)
        if cal != self.settings.calibration:
            raise SensorError(errno.EIO, f"{self._where()}: calibration lost ({cal:#06x}); chip was reset")
        bus_v, _ready, overflow = codec.bus_voltage(self.device.read_be16(R.REG_BUS_VOLTAGE))
        if overflow:
            raise ImplausibleReading(
                errno.ERANGE, f"{self.info.id}: INA219 math overflow (current above range)"
            )
        lsb = self.settings.lsb_a
        values = {
            "bus_voltage_v": round(bus_v, 3),
            "shunt_voltage_v": round(codec.shunt_voltage_v(self.device.read_be16(R.REG_SHUNT_VOLTAGE)), 5),
            "current_a": round(codec.current_a(self.device.read_be16(R.REG_CURRENT), lsb), 6),
            "power_w": round(codec.power_w(self.device.read_be16(R.REG_POWER), lsb), 6),
        }
        check_plausible(self.info.fields, values, self.info.id)
        return values


OPTIONS = ("bus", "address", "shunt_ohm", "max_current_a", "bus_range_v", "adc_samples", "current_lsb_a")


def settings_from_spec(spec: DeviceSpec) -> INA219Settings:
    """Validate the electrical options of ``spec``."""
    shunt_ohm = spec.opt_float("shunt_ohm", 0.1, min=0.0001, max=100.0)
    max_current_a = spec.opt_float("max_current_a", round(0.32 / shunt_ohm, 6), min=1e-6)
    if max_current_a * shunt_ohm > 0.32 + 1e-12:
        raise spec.error(
            "max_current_a", f"{max_current_a:g} A across {shunt_ohm:g} Ohm exceeds the 320 mV range"
        )
    bus_range_v = spec.opt_int("bus_range_v", 32)
    if bus_range_v not in R.BUS_RANGE:
        raise spec.error("bus_range_v", f"expected 16 or 32, got {bus_range_v}")
    samples = spec.opt_int("adc_samples", 1)
    if samples not in R.ADC_SAMPLES:
        raise spec.error(
            "adc_samples", f"expected one of {', '.join(map(str, R.ADC_SAMPLES))}, got {samples}"
        )
    lsb = spec.opt_float("current_lsb_a", 0.0, min=0.0) or None
    settings = INA219Settings(shunt_ohm, max_current_a, bus_range_v, samples, lsb)
    if lsb is not None and lsb < codec.minimum_current_lsb_a(max_current_a):
        raise spec.error(
            "current_lsb_a", f"below the minimum {codec.minimum_current_lsb_a(max_current_a):.3g} A"
        )
    if not 1 <= settings.calibration <= 0xFFFE:
        raise spec.error(
            "current_lsb_a" if lsb else "shunt_ohm", f"calibration {settings.calibration} out of 16 bits"
        )
    return settings


def build(spec: DeviceSpec, ctx: BuildContext) -> INA219Sensor:
    """Build an ``ina219`` sensor. Options: see docs/sensors/i2c.md."""
    spec.check_unknown(OPTIONS)
    bus, address = bus_options(spec, 0x40, R.ADDRESSES)
    settings = settings_from_spec(spec)

    smbus = open_bus(spec, ctx, bus, address, "ina219", shunt_ohm=settings.shunt_ohm)
    info = SensorInfo(
        spec.id, spec.driver, settings.fields(), spec.interval_s, simulated=spec.simulate or ctx.simulate,
        model="INA219", description="TI current / power monitor",
    )  # fmt: skip
    return INA219Sensor(info, smbus, address, f"i2c-{bus}", settings)
