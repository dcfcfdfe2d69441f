"""Jetson.GPIO backend (NVIDIA Jetson Nano / Xavier / Orin 40-pin header), BCM numbering.

Reference: NVIDIA jetson-gpio README (RPi.GPIO-compatible API: ``setmode``, ``setup``, ``input``, ``output``,
``add_event_detect``, ``PWM``). Differences from gpiozero that matter here:

* The edge callback gets only the channel: the level is read back with ``input()`` and the time taken when the
  callback runs (Jetson.GPIO polls the sysfs/cdev edge in its own thread), so edge times are less exact than
  gpiozero's ticks.
* Only some header pins have hardware PWM (Nano: BCM 12 and 13, board pins 32/33), and only once the pinmux
  enables them (``jetson-io.py``); other pins raise here instead of silently bit-banging.
* Jetson.GPIO cannot set internal pull resistors on every board/version; use external resistors.

Not verifiable in this repository's CI (no board): real edge latency, the pinmux, and pull behaviour. The
tests run this code against a fake ``Jetson.GPIO`` module with the same API.
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

from sensors.errors import SensorError
from sensors.gpio.backend import GpioBackend, InputLine, OutputLine, Pull, RawCallback


def import_jetson_gpio() -> Any:
    """Import NVIDIA's Jetson.GPIO.

    Raises:
        SensorError: the module is missing (``pip install Jetson.GPIO``) or refuses to load (not a Jetson).
    """
    try:
        import Jetson.GPIO as gpio  # type: ignore[import-not-found,unused-ignore]
    except (ImportError, RuntimeError) as exc:
        raise SensorError(errno.ENODEV, f"Jetson.GPIO unavailable ({exc}); pip install Jetson.GPIO") from exc
    return gpio


def _jetson_error(pin: int, what: str, exc: Exception) -> SensorError:
    return SensorError(errno.EBUSY, f"cannot use GPIO{pin} as {what}: {type(exc).__name__}: {exc}")


class JetsonInput(InputLine):
    """An input channel with both-edge detection; the callback reads the level back."""

    def __init__(self, gpio: Any, pin: int, pull: Pull, on_change: RawCallback) -> None:
        self.gpio = gpio
        self.pin = pin
        self._on_change = on_change
        self._lock = threading.Lock()
        pud = {"up": gpio.PUD_UP, "down": gpio.PUD_DOWN, "none": gpio.PUD_OFF}[pull]
        try:
            gpio.setup(pin, gpio.IN, pull_up_down=pud)
            self._last = bool(gpio.input(pin))
            gpio.add_event_detect(pin, gpio.BOTH, callback=self._changed)
        except (ValueError, RuntimeError, OSError) as exc:
            raise _jetson_error(pin, "input", exc) from exc

    def _changed(self, channel: int) -> None:
        mono_ns = time.monotonic_ns()
        level = bool(self.gpio.input(channel))
        with self._lock:
            if level == self._last:
                # Jetson.GPIO reports an edge it saw, but the pin already bounced back; report both edges so the
                # debouncer sees the glitch rather than nothing.
                self._on_change(not level, mono_ns)
            self._last = level
        self._on_change(level, mono_ns)

    def level(self) -> bool:
        """The pin's current level."""
        return bool(self.gpio.input(self.pin))

    def close(self) -> None:
        """Stop edge detection and release the channel."""
        try:
            self.gpio.remove_event_detect(self.pin)
        finally:
            self.gpio.cleanup(self.pin)


class JetsonOutput(OutputLine):
    """A digital output channel."""

    def __init__(self, gpio: Any, pin: int, active_high: bool, initial_on: bool) -> None:
        self.gpio = gpio
        self.pin = pin
        self.active_high = active_high
        try:
            gpio.setup(pin, gpio.OUT, initial=self._level(initial_on))
        except (ValueError, RuntimeError, OSError) as exc:
            raise _jetson_error(pin, "output", exc) from exc
        self._on = initial_on

    def _level(self, on: bool) -> int:
        return int(self.gpio.HIGH if on == self.active_high else self.gpio.LOW)

    def set(self, value: float) -> float:
        """Switch on (value >= 0.5) or off."""
        on = value >= 0.5
        self.gpio.output(self.pin, self._level(on))
        self._on = on
        return 1.0 if on else 0.0

    def close(self) -> None:
        """Release the channel."""
        self.gpio.cleanup(self.pin)


class JetsonPwm(OutputLine):
    """A hardware PWM channel (duty cycle 0..1, Jetson.GPIO takes percent)."""

    def __init__(self, gpio: Any, pin: int, frequency_hz: float, initial_duty: float) -> None:
        self.gpio = gpio
        self.pin = pin
        try:
            gpio.setup(pin, gpio.OUT, initial=gpio.LOW)
            self.pwm = gpio.PWM(pin, frequency_hz)
            self.pwm.start(initial_duty * 100.0)
        except (ValueError, RuntimeError, OSError) as exc:
            gpio.cleanup(pin)
            raise _jetson_error(pin, "PWM (only pins with hardware PWM enabled in the pinmux)", exc) from exc
        self.duty = initial_duty

    def set(self, value: float) -> float:
        """Set the duty cycle (0..1)."""
        duty = min(1.0, max(0.0, value))
        self.pwm.ChangeDutyCycle(duty * 100.0)
        self.duty = duty
        return duty

    def close(self) -> None:
        """Stop PWM and release the channel."""
        try:
            self.pwm.stop()
        finally:
            self.gpio.cleanup(self.pin)


class JetsonBackend(GpioBackend):
    """Jetson.GPIO in BCM mode.

    Args:
        gpio: the ``Jetson.GPIO`` module (tests pass a fake with the same API).
    """

    name = "jetson"

    def __init__(self, gpio: Any) -> None:
        self.gpio = gpio
        gpio.setwarnings(False)
        mode = gpio.getmode()
        if mode is None:
            gpio.setmode(gpio.BCM)
        elif mode != gpio.BCM:
            raise SensorError(errno.EINVAL, "Jetson.GPIO is already in a numbering mode other than BCM")

    def input(self, pin: int, pull: Pull, on_change: RawCallback) -> InputLine:
        """Claim ``pin`` as an input with both-edge detection."""
        return JetsonInput(self.gpio, pin, pull, on_change)

    def output(self, pin: int, active_high: bool, initial_on: bool) -> OutputLine:
        """Claim ``pin`` as a digital output."""
        return JetsonOutput(self.gpio, pin, active_high, initial_on)

    def pwm(self, pin: int, frequency_hz: float, initial_duty: float) -> OutputLine:
        """Claim ``pin`` as a hardware PWM output."""
        return JetsonPwm(self.gpio, pin, frequency_hz, initial_duty)

    def close(self) -> None:
        """Release every channel this process set up."""
        self.gpio.cleanup()
