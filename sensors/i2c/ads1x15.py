"""TI ADS1115 / ADS1015 analog-to-digital converter driver: volts per channel, optional linear calibration.

Datasheets: TI SBAS444D (ADS1115), SBAS473E (ADS1015). Each read runs one single-shot conversion per
configured channel (mux, gain and data rate written with OS = 1), waits the nominal conversion time, polls
the OS bit, then reads the conversion register. Values are volts, or ``offset + scale * volts`` when a
channel has a calibration.
"""

from __future__ import annotations

import errno
import re
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import SensorTimeout
from sensors.i2c import ads1x15_codec as codec
from sensors.i2c import ads1x15_registers as R
from sensors.i2c.device import I2CDevice, SMBusLike, bus_options, open_bus
from sensors.spec import DeviceSpec

#: OS-bit polls after the nominal conversion time (the oscillator may run 10 % slow), each a quarter period.
READY_POLLS = 8
_FIELD_RE = re.compile(r"^[a-z][a-z0-9_]*\Z")


@dataclass(frozen=True, slots=True)
class Channel:
    """One measured input.

    Attributes:
        field: output field name (``battery_v``, ``soil_moisture_pct``).
        mux: input multiplexer code (see ``ads1x15_registers.MUX``).
        full_scale_v: PGA full-scale range in volts.
        scale: engineering units per volt.
        offset: engineering value at 0 V.
        unit: display unit.
    """

    field: str
    mux: int
    full_scale_v: float = 4.096
    scale: float = 1.0
    offset: float = 0.0
    unit: str = "V"

    def field_spec(self) -> FieldSpec:
        """Return the field with its plausible range (the calibrated full-scale interval)."""
        lo, hi = sorted(
            (self.offset - self.scale * self.full_scale_v, self.offset + self.scale * self.full_scale_v)
        )
        return FieldSpec(self.field, self.unit, min=lo, max=hi)


class ADS1x15Sensor(Sensor):
    """An ADS1115 or ADS1015 on an SMBus-like bus.

    Args:
        info: catalogue entry.
        bus: SMBus-like object.
        address: 0x48..0x4B.
        bus_id: serialisation domain, ``i2c-<n>``.
        channels: inputs to convert on each read.
        bits: 16 (ADS1115) or 12 (ADS1015).
        data_rate_sps: samples per second (one of the chip's rates).
        sleep: blocking sleep (injected so tests need not wait).
    """

    def __init__(
        self,
        info: SensorInfo,
        bus: SMBusLike,
        address: int,
        bus_id: str,
        channels: Sequence[Channel],
        bits: int = 16,
        data_rate_sps: int = 128,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        super().__init__(info)
        self.bus_id = bus_id
        self.device = I2CDevice(bus, address, bus_id)
        self.channels = tuple(channels)
        self.bits = bits
        self.data_rate_sps = data_rate_sps
        rates = R.DATA_RATE_ADS1115 if bits == 16 else R.DATA_RATE_ADS1015
        self._dr_code = rates[data_rate_sps]
        self._sleep = sleep

    def open(self) -> None:
        """Probe the chip (config register read) and leave it idle in single-shot mode."""
        self.device.read_be16(R.REG_CONFIG)
        idle = codec.Config(mux=4, pga=R.PGA[4.096], data_rate=self._dr_code, start=False)
        self.device.write_be16(R.REG_CONFIG, codec.encode_config(idle))

    def convert(self, channel: Channel) -> float:
        """Run one single-shot conversion of ``channel`` and return volts."""
        config = codec.Config(channel.mux, R.PGA[channel.full_scale_v], self._dr_code)
        self.device.write_be16(R.REG_CONFIG, codec.encode_config(config))
        period_s = codec.conversion_time_s(self.data_rate_sps)
        self._sleep(period_s)
        for _ in range(READY_POLLS):
            if self.device.read_be16(R.REG_CONFIG) & R.OS_START:
                break
            self._sleep(period_s / 4)
        else:
            raise SensorTimeout(
                errno.ETIMEDOUT, f"{self.bus_id} {self.device.address:#04x}: conversion timed out"
            )
        return codec.volts(self.device.read_be16(R.REG_CONVERSION), channel.full_scale_v, self.bits)

    def read(self) -> Values:
        """Convert every channel; return calibrated values rounded to the converter's resolution."""
        values: dict[str, float] = {}
        for channel in self.channels:
            volts = self.convert(channel)
            values[channel.field] = round(channel.offset + channel.scale * volts, 6)
        return values


_CHANNEL_KEYS = ("field", "input", "full_scale_v", "scale", "offset", "unit")


def _channel(spec: DeviceSpec, index: int, table: Any) -> Channel:
    key = f"channels[{index}]"
    if not isinstance(table, Mapping):
        raise spec.error(key, f"expected a table {{field, input, ...}}, got {table!r}")
    for name in table:
        if name not in _CHANNEL_KEYS:
            raise spec.error(f"{key}.{name}", f"unknown channel option; known: {', '.join(_CHANNEL_KEYS)}")
    sub = DeviceSpec(spec.id, spec.driver, f"{spec.key}.{key}", options=table)
    field = sub.opt_str("field")
    if not _FIELD_RE.match(field):
        raise sub.error("field", f"expected a lower-case name like 'battery_v', got {field!r}")
    mux = sub.opt_str("input", choices=tuple(R.MUX))
    fsr = sub.opt_float("full_scale_v", 4.096)
    if fsr not in R.PGA:
        raise sub.error("full_scale_v", f"expected one of {', '.join(map(str, R.PGA))}, got {fsr:g}")
    calibrated = "scale" in table or "offset" in table
    scale = sub.opt_float("scale", 1.0)
    if scale == 0.0:
        raise sub.error("scale", "must not be 0")
    unit = sub.opt_str("unit", "" if calibrated else "V")
    return Channel(field, R.MUX[mux], fsr, scale, sub.opt_float("offset", 0.0), unit)


def channels_from_spec(spec: DeviceSpec) -> list[Channel]:
    """Return the validated ``channels`` option (default: a0_v..a3_v single-ended at +/-4.096 V)."""
    tables = spec.opt_list("channels", [{"field": f"a{i}_v", "input": f"a{i}"} for i in range(4)])
    if not tables:
        raise spec.error("channels", "expected at least one channel")
    channels = [_channel(spec, i, t) for i, t in enumerate(tables)]
    names = [c.field for c in channels]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise spec.error("channels", f"duplicate field names: {', '.join(duplicates)}")
    return channels


def build(spec: DeviceSpec, ctx: BuildContext) -> ADS1x15Sensor:
    """Build an ``ads1115`` / ``ads1015`` sensor. Options: see docs/sensors/i2c.md."""
    spec.check_unknown(["bus", "address", "data_rate_sps", "channels"])
    bus, address = bus_options(spec, 0x48, R.ADDRESSES)
    bits = R.RESOLUTION_BITS[spec.driver]
    rates = R.DATA_RATE_ADS1115 if bits == 16 else R.DATA_RATE_ADS1015
    rate = spec.opt_int("data_rate_sps", R.DEFAULT_DATA_RATE[spec.driver])
    if rate not in rates:
        raise spec.error("data_rate_sps", f"expected one of {', '.join(map(str, rates))}, got {rate}")
    channels = channels_from_spec(spec)

    smbus = open_bus(spec, ctx, bus, address, "ads1x15", bits=bits)
    info = SensorInfo(
        spec.id, spec.driver, tuple(c.field_spec() for c in channels), spec.interval_s,
        simulated=spec.simulate or ctx.simulate, model=spec.driver.upper(), description="TI ADC",
    )  # fmt: skip
    return ADS1x15Sensor(info, smbus, address, f"i2c-{bus}", channels, bits, rate, sleep=ctx.sleep)
