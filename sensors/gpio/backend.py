"""The small GPIO interface every driver here uses.

Two backends implement it: :mod:`sensors.gpio.zero` (gpiozero; Raspberry Pi, and the emulator) and
:mod:`sensors.gpio.jetson` (NVIDIA's Jetson.GPIO, since gpiozero does not run on Jetson boards);
:mod:`sensors.gpio.choose` picks one per board. Pins are BCM numbers on both boards (Jetson.GPIO maps the
Pi-compatible 40-pin header in BCM mode).
"""

from __future__ import annotations

import abc
from collections.abc import Callable
from typing import Literal

Pull = Literal["up", "down", "none"]
RawCallback = Callable[[bool, int], None]
"""``callback(level_high, mono_ns)``: a raw level change and the monotonic time it happened."""

BACKENDS = ("auto", "gpiozero", "jetson")


class InputLine(abc.ABC):
    """A claimed input pin that reports raw level changes."""

    @abc.abstractmethod
    def level(self) -> bool:
        """The pin's current level (True: high)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the pin (no more callbacks)."""


class OutputLine(abc.ABC):
    """A claimed output pin: digital (0/1) or PWM (duty cycle 0..1)."""

    @abc.abstractmethod
    def set(self, value: float) -> float:
        """Drive the pin to ``value`` (0/1, or a duty cycle) and return what the pin now outputs."""

    @abc.abstractmethod
    def close(self) -> None:
        """Release the pin."""


class GpioBackend(abc.ABC):
    """Creates lines on one board's GPIO controller."""

    name: str = ""

    @abc.abstractmethod
    def input(self, pin: int, pull: Pull, on_change: RawCallback) -> InputLine:
        """Claim ``pin`` as an input with ``pull`` and call ``on_change`` (on any thread) for each change.

        Raises:
            SensorError: the pin cannot be claimed (in use, invalid, no permission).
        """

    @abc.abstractmethod
    def output(self, pin: int, active_high: bool, initial_on: bool) -> OutputLine:
        """Claim ``pin`` as a digital output, switched on (active) when ``initial_on``."""

    @abc.abstractmethod
    def pwm(self, pin: int, frequency_hz: float, initial_duty: float) -> OutputLine:
        """Claim ``pin`` as a PWM output at ``frequency_hz`` with ``initial_duty`` (0..1).

        Raises:
            SensorError: the pin has no PWM on this board.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release the controller."""
