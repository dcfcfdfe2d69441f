"""Outputs the gateway drives on an operator's command: LED, relay (switch), PWM LED and hobby servo (number).

Each output is claimed in :meth:`open` already in its safe state (so a relay never clicks on at start-up), and
:meth:`apply` returns the state read back from the pin. Servo angles map to pulse widths with
:func:`servo_duty` (pure), the same on gpiozero and Jetson.GPIO.
"""

from __future__ import annotations

import errno

from sensors.base import Actuator, ActuatorInfo, BuildContext, Value
from sensors.errors import SensorError
from sensors.gpio.backend import GpioBackend, OutputLine
from sensors.gpio.choose import actuator_backend, pin_option
from sensors.spec import DeviceSpec


def servo_duty(
    angle_deg: float,
    min_angle_deg: float,
    max_angle_deg: float,
    min_pulse_s: float,
    max_pulse_s: float,
    frame_s: float,
) -> float:
    """Duty cycle that holds a servo at ``angle_deg`` (clamped to its range)."""
    span = max_angle_deg - min_angle_deg
    frac = min(1.0, max(0.0, (angle_deg - min_angle_deg) / span))
    return (min_pulse_s + frac * (max_pulse_s - min_pulse_s)) / frame_s


def servo_angle(
    duty: float,
    min_angle_deg: float,
    max_angle_deg: float,
    min_pulse_s: float,
    max_pulse_s: float,
    frame_s: float,
) -> float:
    """Inverse of :func:`servo_duty`."""
    frac = (duty * frame_s - min_pulse_s) / (max_pulse_s - min_pulse_s)
    return min_angle_deg + frac * (max_angle_deg - min_angle_deg)


class GpioSwitch(Actuator):
    """A digital output (LED, relay): value True/False.

    Args:
        info: catalogue entry (kind ``switch``).
        backend: GPIO backend.
        pin: BCM pin.
        active_high: False for the many relay boards that switch on when the input is pulled low.
    """

    def __init__(self, info: ActuatorInfo, backend: GpioBackend, pin: int, active_high: bool = True) -> None:
        super().__init__(info)
        self.backend = backend
        self.pin = pin
        self.active_high = active_high
        self.line: OutputLine | None = None

    def open(self) -> None:
        """Claim the pin, already at the safe value."""
        self.close()
        self.line = self.backend.output(self.pin, self.active_high, bool(self.info.safe_value))

    def apply(self, value: Value) -> Value:
        """Switch on (True) or off (False); returns the state read back."""
        if self.line is None:
            raise SensorError(errno.EBADF, f"GPIO{self.pin} is not open")
        return self.line.set(1.0 if value else 0.0) >= 0.5

    def close(self) -> None:
        """Release the pin."""
        line, self.line = self.line, None
        if line is not None:
            line.close()


class GpioPwm(Actuator):
    """A PWM output (dimmable LED, fan, servo).

    Args:
        info: catalogue entry (kind ``number``; value 0..1, or degrees for a servo).
        backend: GPIO backend.
        pin: BCM pin.
        frequency_hz: PWM frequency.
        servo: ``(min_angle_deg, max_angle_deg, min_pulse_s, max_pulse_s)`` for a servo, None for a duty cycle.
    """

    def __init__(
        self,
        info: ActuatorInfo,
        backend: GpioBackend,
        pin: int,
        frequency_hz: float,
        servo: tuple[float, float, float, float] | None = None,
    ) -> None:
        super().__init__(info)
        self.backend = backend
        self.pin = pin
        self.frequency_hz = frequency_hz
        self.servo = servo
        self.line: OutputLine | None = None

    def _duty(self, value: float) -> float:
        if self.servo is None:
            return min(1.0, max(0.0, value))
        return servo_duty(value, *self.servo, 1.0 / self.frequency_hz)

    def _value(self, duty: float) -> float:
        if self.servo is None:
            return round(duty, 4)
        return round(servo_angle(duty, *self.servo, 1.0 / self.frequency_hz), 2)

    def open(self) -> None:
        """Claim the pin with the safe duty cycle (or angle)."""
        self.close()
        safe = self.info.safe_value
        self.line = self.backend.pwm(
            self.pin, self.frequency_hz, self._duty(float(safe) if isinstance(safe, int | float) else 0.0)
        )

    def apply(self, value: Value) -> Value:
        """Set brightness 0..1 (or the servo angle); returns the value read back from the duty cycle."""
        if self.line is None:
            raise SensorError(errno.EBADF, f"GPIO{self.pin} is not open")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise SensorError(errno.EINVAL, f"expected a number, got {value!r}")
        return self._value(self.line.set(self._duty(float(value))))

    def close(self) -> None:
        """Release the pin."""
        line, self.line = self.line, None
        if line is not None:
            line.close()


_COMMON = ["pin", "safe_value", "safe_on_disconnect", "backend"]


def build_switch(spec: DeviceSpec, ctx: BuildContext) -> GpioSwitch:
    """Build an ``led`` or ``relay``: options ``pin``, ``active_high`` (true), ``safe_value`` (false: off),
    ``safe_on_disconnect`` (false), ``backend``."""
    spec.check_unknown([*_COMMON, "active_high"])
    pin = pin_option(spec)
    info = ActuatorInfo(
        spec.id,
        spec.driver,
        "switch",
        0.0,
        1.0,
        spec.opt_bool("safe_value", False),
        simulated=spec.simulate,
        safe_on_disconnect=spec.opt_bool("safe_on_disconnect", False),
    )
    return GpioSwitch(info, actuator_backend(spec, ctx), pin, spec.opt_bool("active_high", True))


def build_pwm_led(spec: DeviceSpec, ctx: BuildContext) -> GpioPwm:
    """Build a ``pwm_led``: value 0..1; options ``pin``, ``frequency_hz`` (100), ``safe_value`` (0),
    ``safe_on_disconnect``, ``backend``."""
    spec.check_unknown([*_COMMON, "frequency_hz"])
    pin = pin_option(spec)
    info = ActuatorInfo(
        spec.id,
        spec.driver,
        "number",
        0.0,
        1.0,
        spec.opt_float("safe_value", 0.0, min=0.0, max=1.0),
        simulated=spec.simulate,
        safe_on_disconnect=spec.opt_bool("safe_on_disconnect", False),
    )
    return GpioPwm(
        info, actuator_backend(spec, ctx), pin, spec.opt_float("frequency_hz", 100.0, min=1, max=20000)
    )


def build_servo(spec: DeviceSpec, ctx: BuildContext) -> GpioPwm:
    """Build a ``servo``: value in degrees; options ``pin``, ``min_angle_deg`` (-90), ``max_angle_deg`` (90),
    ``min_pulse_width_s`` (0.001), ``max_pulse_width_s`` (0.002), ``frame_width_s`` (0.02), ``safe_value``
    (mid-range), ``safe_on_disconnect``, ``backend``."""
    spec.check_unknown(
        [
            *_COMMON,
            "min_angle_deg",
            "max_angle_deg",
            "min_pulse_width_s",
            "max_pulse_width_s",
            "frame_width_s",
        ]
    )
    pin = pin_option(spec)
    lo = spec.opt_float("min_angle_deg", -90.0, min=-360.0, max=360.0)
    hi = spec.opt_float("max_angle_deg", 90.0, min=-360.0, max=360.0)
    if hi <= lo:
        raise spec.error("max_angle_deg", f"must be greater than min_angle_deg ({lo:g})")
    frame_s = spec.opt_float("frame_width_s", 0.02, min=0.005, max=0.05)
    min_pulse_s = spec.opt_float("min_pulse_width_s", 0.001, min=0.0001, max=frame_s)
    max_pulse_s = spec.opt_float("max_pulse_width_s", 0.002, min=min_pulse_s, max=frame_s)
    if max_pulse_s <= min_pulse_s:
        raise spec.error("max_pulse_width_s", "must be greater than min_pulse_width_s")
    info = ActuatorInfo(
        spec.id,
        spec.driver,
        "number",
        lo,
        hi,
        spec.opt_float("safe_value", (lo + hi) / 2, min=lo, max=hi),
        unit="°",
        simulated=spec.simulate,
        safe_on_disconnect=spec.opt_bool("safe_on_disconnect", False),
    )
    servo = (lo, hi, min_pulse_s, max_pulse_s)
    return GpioPwm(info, actuator_backend(spec, ctx), pin, 1.0 / frame_s, servo)
