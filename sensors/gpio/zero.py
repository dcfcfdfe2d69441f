"""gpiozero backend (Raspberry Pi, and the emulator's MockFactory).

Every device gets ``pin_factory=`` explicitly; gpiozero's global default factory is never used. Edge times come
from gpiozero's own tick of the change (``active_time``/``inactive_time`` inside the callback), not from when
Python got round to the callback. gpiozero's ``bounce_time`` is not used: debouncing is done by
:class:`sensors.gpio.edges.EdgeFilter` so both backends behave the same (and MockPin ignores bounce anyway).
"""

from __future__ import annotations

import errno
import time
from typing import Any

from sensors.errors import SensorError
from sensors.gpio.backend import GpioBackend, InputLine, OutputLine, Pull, RawCallback

REAL_FACTORIES: tuple[tuple[str, str, str], ...] = (
    ("lgpio", "gpiozero.pins.lgpio", "LGPIOFactory"),
    ("rpigpio", "gpiozero.pins.rpigpio", "RPiGPIOFactory"),
    ("native", "gpiozero.pins.native", "NativeFactory"),
)
"""Tried in this order: lgpio works on every Pi (5 included) with a current kernel; RPi.GPIO and the native
factory are fallbacks for older images."""


def make_real_factory() -> Any:
    """Build the first gpiozero pin factory that works on this machine.

    Raises:
        SensorError: none works; the message lists why each failed.
    """
    import importlib

    reasons = []
    for name, module, cls in REAL_FACTORIES:
        try:
            return getattr(importlib.import_module(module), cls)()
        except Exception as exc:  # ImportError, OSError, RuntimeError: any reason means 'not this one'
            reasons.append(f"{name}: {type(exc).__name__}: {exc}")
    raise SensorError(errno.ENODEV, "no gpiozero pin factory works here (" + "; ".join(reasons) + ")")


def claim_error(pin: int, exc: Exception) -> SensorError:
    """A gpiozero error on claiming ``pin`` as a SensorError that names the pin."""
    return SensorError(errno.EBUSY, f"cannot claim GPIO{pin}: {type(exc).__name__}: {exc}")


class ZeroInput(InputLine):
    """A DigitalInputDevice whose edges are forwarded as raw levels with their own monotonic times."""

    def __init__(self, factory: Any, pin: int, pull: Pull, on_change: RawCallback) -> None:
        from gpiozero import DigitalInputDevice

        pull_up = True if pull == "up" else False if pull == "down" else None
        try:
            self.device = DigitalInputDevice(
                pin, pull_up=pull_up, active_state=True if pull_up is None else None, pin_factory=factory
            )
        except Exception as exc:
            raise claim_error(pin, exc) from exc
        # With pull_up=True gpiozero inverts (active = low); this backend reports levels, the driver maps them.
        self._inverted = pull_up is True
        self._on_change = on_change
        self.device.when_activated = self._activated
        self.device.when_deactivated = self._deactivated

    def _edge(self, active: bool, age_s: float | None) -> None:
        mono_ns = time.monotonic_ns() - int((age_s or 0.0) * 1e9)
        self._on_change(active != self._inverted, mono_ns)

    def _activated(self) -> None:
        self._edge(True, self.device.active_time)

    def _deactivated(self) -> None:
        self._edge(False, self.device.inactive_time)

    def level(self) -> bool:
        """The pin's current level."""
        return bool(self.device.is_active) != self._inverted

    def close(self) -> None:
        """Release the pin."""
        self.device.when_activated = None
        self.device.when_deactivated = None
        self.device.close()


class ZeroOutput(OutputLine):
    """An OutputDevice (digital) or PWMOutputDevice (duty cycle) on a gpiozero pin."""

    def __init__(self, device: Any) -> None:
        self.device = device

    def set(self, value: float) -> float:
        """Drive the pin and read back what gpiozero now outputs."""
        self.device.value = value
        return float(self.device.value)

    def close(self) -> None:
        """Release the pin."""
        self.device.close()


class ZeroBackend(GpioBackend):
    """gpiozero devices on an injected pin factory.

    Args:
        factory: a gpiozero pin factory (``LGPIOFactory()``, ``MockFactory()``...).
    """

    name = "gpiozero"

    def __init__(self, factory: Any) -> None:
        self.factory = factory

    def input(self, pin: int, pull: Pull, on_change: RawCallback) -> InputLine:
        """Claim ``pin`` as an input (see :meth:`GpioBackend.input`)."""
        return ZeroInput(self.factory, pin, pull, on_change)

    def output(self, pin: int, active_high: bool, initial_on: bool) -> OutputLine:
        """Claim ``pin`` as a digital output."""
        from gpiozero import OutputDevice

        try:
            device = OutputDevice(
                pin, active_high=active_high, initial_value=initial_on, pin_factory=self.factory
            )
        except Exception as exc:
            raise claim_error(pin, exc) from exc
        return ZeroOutput(device)

    def pwm(self, pin: int, frequency_hz: float, initial_duty: float) -> OutputLine:
        """Claim ``pin`` as a PWM output (software PWM on lgpio/RPi.GPIO unless the pin has hardware PWM)."""
        from gpiozero import PWMOutputDevice

        try:
            device = PWMOutputDevice(
                pin, initial_value=initial_duty, frequency=frequency_hz, pin_factory=self.factory
            )
        except Exception as exc:
            raise claim_error(pin, exc) from exc
        return ZeroOutput(device)

    def close(self) -> None:
        """Release every pin of the factory."""
        self.factory.close()
