"""HC-SR04 ultrasonic distance (gpiozero DistanceSensor) and MCP3008/MCP3208 ADCs (gpiozero SPI devices).

Both need gpiozero (tight edge timing / SPI through the pin factory), so they run with the gpiozero backend
only. HC-SR04: the echo output is 5 V; put a divider (e.g. 1 kΩ / 2 kΩ) between ECHO and the Pi's pin.
MCP3008 (Microchip DS21295) / MCP3208 (DS21298): power at 3.3 V so VREF and the outputs stay at 3.3 V.
"""

from __future__ import annotations

import errno
import functools
import time
import warnings
from typing import Any

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import SensorError
from sensors.gpio.choose import pin_option, zero_factory
from sensors.spec import DeviceSpec

ADC_BITS = {"mcp3008": 10, "mcp3208": 12}


def _quiet_no_echo() -> None:
    """Keep gpiozero's ``DistanceSensorNoEcho`` warning (two lines with a file path, from its ping thread, on
    every missed ping) out of stderr: the driver reports missed pings itself (:meth:`DistanceSensorHcsr04.read`).

    A filter, because the warning comes from gpiozero's own thread, where ``catch_warnings`` (process-wide, not
    thread-safe) cannot be used; scoped to that one category raised in ``gpiozero.input_devices``, so every
    other warning of every library still shows. Idempotent (``filterwarnings`` replaces an equal entry), and
    run at each open because test runners restore the filter list between tests."""
    from gpiozero import DistanceSensorNoEcho

    warnings.filterwarnings("ignore", category=DistanceSensorNoEcho, module=r"gpiozero\.input_devices\Z")


@functools.cache
def _counting_distance_sensor() -> Any:
    """gpiozero's DistanceSensor, counting the pings that got no usable echo (its ``_read`` answers None for
    them, and its median filter drops them). Without ``_read`` (a gpiozero that changed it): the plain class,
    and the count stays 0 - the no-echo timeout still works from the sample queue."""
    from gpiozero import DistanceSensor

    if not callable(getattr(DistanceSensor, "_read", None)):
        return DistanceSensor

    class CountingDistanceSensor(DistanceSensor):  # type: ignore[misc]
        missed_pings = 0
        """Pings without a usable echo since the device was made (written by gpiozero's ping thread only)."""

        def _read(self) -> float | None:
            value: float | None = super()._read()
            if value is None:
                self.missed_pings += 1
            return value

    return CountingDistanceSensor


class DistanceSensorHcsr04(Sensor):
    """HC-SR04 via gpiozero's DistanceSensor: field ``distance_m`` (median of its last readings).

    Args:
        info: catalogue entry.
        factory: gpiozero pin factory.
        echo_pin: BCM pin on ECHO (through a 5 V -> 3.3 V divider).
        trigger_pin: BCM pin on TRIG.
        max_distance_m: readings saturate here (the HC-SR04 manages about 4 m).
        queue_len: readings in gpiozero's median filter.
        no_echo_timeout_s: without a new echo for this long the sensor is reported failing.
    """

    bus_id = "gpio"

    def __init__(
        self,
        info: SensorInfo,
        factory: Any,
        echo_pin: int,
        trigger_pin: int,
        max_distance_m: float = 2.0,
        queue_len: int = 5,
        no_echo_timeout_s: float = 2.0,
    ) -> None:
        super().__init__(info)
        self.no_echo_timeout_s = no_echo_timeout_s
        self._samples: tuple[float, ...] = ()
        self._changed_s = 0.0
        self._missed_at_change = 0
        """The device's missed-ping count when the samples last changed (the read's error says how many since)."""
        self.factory = factory
        self.echo_pin = echo_pin
        self.trigger_pin = trigger_pin
        self.max_distance_m = max_distance_m
        self.queue_len = queue_len
        self.device: Any = None

    def open(self) -> None:
        """Claim the pins; gpiozero then pings in its own thread.

        Raises:
            SensorError: a pin cannot be claimed.
        """
        from gpiozero import PWMSoftwareFallback

        self.close()
        self._samples, self._changed_s, self._missed_at_change = (), time.monotonic(), 0
        _quiet_no_echo()  # outside the catch_warnings below, which restores the filter list when it ends
        try:
            with warnings.catch_warnings():  # 'use pigpio for accuracy': documented in docs/sensors/gpio.md
                warnings.simplefilter("ignore", PWMSoftwareFallback)
                self.device = _counting_distance_sensor()(
                    echo=self.echo_pin,
                    trigger=self.trigger_pin,
                    max_distance=self.max_distance_m,
                    queue_len=self.queue_len,
                    partial=True,
                    pin_factory=self.factory,
                )
        except Exception as exc:
            raise SensorError(errno.EBUSY, f"cannot claim HC-SR04 pins: {type(exc).__name__}: {exc}") from exc

    def read(self) -> Values:
        """The filtered distance, or nothing while gpiozero has no echo yet.

        Raises:
            SensorError: not open.
        """
        if self.device is None:
            raise SensorError(errno.EBADF, "HC-SR04 is not open")
        # gpiozero answers 0.0 for an empty queue and keeps the last median forever when echoes stop (it drops
        # failed pings), so freshness is judged from its sample queue: real echoes never repeat to the ns.
        queue = getattr(getattr(self.device, "_queue", None), "queue", ())
        samples = tuple(queue)
        missed = int(getattr(self.device, "missed_pings", 0))
        now_s = time.monotonic()
        if samples != self._samples:
            self._samples, self._changed_s, self._missed_at_change = samples, now_s, missed
        elif now_s - self._changed_s > self.no_echo_timeout_s:
            raise SensorError(
                errno.ETIMEDOUT,
                f"HC-SR04: no echo for {self.no_echo_timeout_s:g} s ({missed - self._missed_at_change} pings"
                f" unanswered; check ECHO on GPIO{self.echo_pin}, its divider, and TRIG on GPIO{self.trigger_pin})",
            )
        if not samples:
            return {}
        return {"distance_m": round(float(self.device.distance), 4)}

    def close(self) -> None:
        """Release the pins; gpiozero's sampling thread is stopped first (its DistanceSensor.close() drops the
        trigger pin while that thread may still be pinging: an AttributeError traceback on a quick stop)."""
        device, self.device = self.device, None
        if device is not None:
            queue = getattr(device, "_queue", None)
            if queue is not None:
                queue.stop()
            device.close()


class Mcp3xxx(Sensor):
    """MCP3008/MCP3208 channels in volts: fields ``<name>_v`` (and ``<name>_raw``).

    Args:
        info: catalogue entry.
        factory: gpiozero pin factory.
        model: ``mcp3008`` or ``mcp3208``.
        channels: ``(channel, name)`` pairs.
        device: SPI0 chip select (0: CE0/BCM 8, 1: CE1/BCM 7).
        vref_v: the chip's VREF.
        differential: pseudo-differential pairs (IN+ = channel, IN- = channel ^ 1).
    """

    def __init__(
        self,
        info: SensorInfo,
        factory: Any,
        model: str,
        channels: list[tuple[int, str]],
        *,
        device: int = 0,
        vref_v: float = 3.3,
        differential: bool = False,
    ) -> None:
        super().__init__(info)
        self.bus_id = f"spi-0.{device}"
        self.factory = factory
        self.model = model
        self.channels = channels
        self.device = device
        self.vref_v = vref_v
        self.differential = differential
        self.bits = ADC_BITS[model]
        self._adcs: list[Any] = []

    def open(self) -> None:
        """Open one gpiozero device per channel (they share the SPI interface).

        Raises:
            SensorError: SPI cannot be opened.
        """
        import gpiozero

        cls = gpiozero.MCP3008 if self.model == "mcp3008" else gpiozero.MCP3208
        self.close()
        try:
            for channel, _name in self.channels:
                self._adcs.append(
                    cls(
                        channel=channel,
                        differential=self.differential,
                        max_voltage=self.vref_v,
                        port=0,
                        device=self.device,
                        pin_factory=self.factory,
                    )
                )
        except Exception as exc:
            self.close()
            raise SensorError(
                errno.EIO, f"cannot open SPI0.{self.device}: {type(exc).__name__}: {exc}"
            ) from exc

    def read(self) -> Values:
        """Convert every configured channel once."""
        if not self._adcs:
            raise SensorError(errno.EBADF, f"{self.model} is not open")
        out: dict[str, float | int] = {}
        top = (1 << self.bits) - 1
        for adc, (_channel, name) in zip(self._adcs, self.channels, strict=True):
            try:
                raw = int(adc.raw_value)
            except Exception as exc:
                raise SensorError(errno.EIO, f"{self.model} read failed: {exc}") from exc
            out[f"{name}_raw"] = raw
            out[f"{name}_v"] = round(raw * self.vref_v / top, 4)
        return out

    def close(self) -> None:
        """Release SPI."""
        adcs, self._adcs = self._adcs, []
        for adc in adcs:
            adc.close()


def build_distance(spec: DeviceSpec, ctx: BuildContext) -> DistanceSensorHcsr04:
    """Build an ``hcsr04`` from config.

    Options: ``echo_pin``, ``trigger_pin`` (BCM), ``max_distance_m`` (2.0), ``queue_len`` (5),
    ``no_echo_timeout_s`` (2.0), ``backend``.
    """
    spec.check_unknown(
        ["echo_pin", "trigger_pin", "max_distance_m", "queue_len", "no_echo_timeout_s", "backend"]
    )
    echo, trigger = pin_option(spec, "echo_pin"), pin_option(spec, "trigger_pin")
    if echo == trigger:
        raise spec.error("trigger_pin", "must differ from echo_pin")
    max_m = spec.opt_float("max_distance_m", 2.0, min=0.05, max=4.5)
    factory = zero_factory(spec, ctx)
    if spec.simulate:
        import math
        import time

        ctx.emulated().attach_echo(
            factory, trigger, echo, lambda: min(max_m, 0.35 + 0.15 * math.sin(time.monotonic() / 9.0))
        )
    info = SensorInfo(
        spec.id,
        spec.driver,
        (FieldSpec("distance_m", "m", "float", "distance", 0.0, max_m),),
        spec.interval_s,
        simulated=spec.simulate,
        description="ultrasonic distance",
        model="HC-SR04",
    )
    return DistanceSensorHcsr04(
        info,
        factory,
        echo,
        trigger,
        max_m,
        spec.opt_int("queue_len", 5, min=1, max=31),
        spec.opt_float("no_echo_timeout_s", 2.0, min=0.2, max=60.0),
    )


def build_adc(spec: DeviceSpec, ctx: BuildContext) -> Mcp3xxx:
    """Build an ``mcp3008`` / ``mcp3208`` from config.

    Options: ``channels`` (list of channel numbers, or tables ``{channel = 0, name = "soil"}``; default
    ``[0]``), ``device`` (SPI0 chip select 0 or 1), ``vref_v`` (3.3), ``differential`` (false), ``backend``.
    """
    spec.check_unknown(["channels", "device", "vref_v", "differential", "backend"])
    channels: list[tuple[int, str]] = []
    for i, item in enumerate(spec.opt_list("channels", [0])):
        channel, name = (item, f"ch{item}") if isinstance(item, int) else (None, None)
        if isinstance(item, dict):
            channel, name = item.get("channel"), item.get("name")
            name = name if name is not None else f"ch{channel}"
        if isinstance(channel, bool) or not isinstance(channel, int) or not 0 <= channel <= 7:
            raise spec.error(f"channels[{i}]", f"expected a channel 0..7 or {{channel, name}}, got {item!r}")
        if not isinstance(name, str) or not name.replace("_", "").isalnum() or not name.islower():
            raise spec.error(f"channels[{i}].name", f"expected a lowercase name like 'soil', got {name!r}")
        channels.append((channel, name))
    if len({name for _c, name in channels}) != len(channels):
        raise spec.error("channels", "channel names must be unique")
    device = spec.opt_int("device", 0, min=0, max=1)
    vref_v = spec.opt_float("vref_v", 3.3, min=0.25, max=5.5)
    factory = zero_factory(spec, ctx)
    bits = ADC_BITS[spec.driver]
    if spec.simulate:
        ctx.emulated().gpio(ctx).adc(0, device, bits, vref_v)
    fields: list[FieldSpec] = []
    for _channel, name in channels:
        fields.append(FieldSpec(f"{name}_v", "V", "float", "voltage", 0.0, vref_v))
        fields.append(FieldSpec(f"{name}_raw", "", "int", None, 0, (1 << bits) - 1))
    info = SensorInfo(
        spec.id,
        spec.driver,
        tuple(fields),
        spec.interval_s,
        simulated=spec.simulate,
        description=f"{bits}-bit ADC on SPI0.{device}",
        model=spec.driver.upper(),
    )
    return Mcp3xxx(
        info,
        factory,
        spec.driver,
        channels,
        device=device,
        vref_v=vref_v,
        differential=spec.opt_bool("differential", False),
    )
