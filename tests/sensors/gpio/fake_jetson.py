"""A fake of NVIDIA's ``Jetson.GPIO`` module (BCM mode, Jetson Nano header), for testing the Jetson backend.

It keeps the real module's rules that matter to a caller: a numbering mode must be set before ``setup``; outputs
and PWM need ``setup(..., OUT)`` first; only BCM 12 and 13 (board pins 32/33) have PWM; ``input`` of a channel
not set up and a second ``add_event_detect`` on one channel are errors; callbacks get only the channel and run
on the module's own thread. Test code plays the wiring with :meth:`FakeJetsonGPIO.drive`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any


class FakePWM:
    """``Jetson.GPIO.PWM``: duty cycle in percent."""

    def __init__(self, gpio: FakeJetsonGPIO, channel: int, frequency_hz: float) -> None:
        if channel not in gpio.PWM_CHANNELS:
            raise ValueError(f"Channel {channel} is not a PWM")
        if gpio.directions.get(channel) != gpio.OUT:
            raise RuntimeError("You must setup() the GPIO channel as an output first")
        self.gpio = gpio
        self.channel = channel
        self.frequency_hz = frequency_hz
        self.duty_pct: float | None = None
        gpio.pwms[channel] = self

    def start(self, duty_pct: float) -> None:
        """Start with a duty cycle in percent."""
        if not 0.0 <= duty_pct <= 100.0:
            raise ValueError("dutycycle must have a value from 0.0 to 100.0")
        self.duty_pct = duty_pct

    def ChangeDutyCycle(self, duty_pct: float) -> None:
        """Change the duty cycle (percent)."""
        if self.duty_pct is None:
            raise RuntimeError("PWM not started")
        self.start(duty_pct)

    def ChangeFrequency(self, frequency_hz: float) -> None:
        """Change the frequency."""
        self.frequency_hz = frequency_hz

    def stop(self) -> None:
        """Stop PWM output."""
        self.duty_pct = None


class FakeJetsonGPIO:
    """The module object: constants, functions and the simulated pin levels."""

    BCM, BOARD = 11, 10
    IN, OUT = 1, 0
    HIGH, LOW = 1, 0
    PUD_OFF, PUD_DOWN, PUD_UP = 20, 21, 22
    RISING, FALLING, BOTH = 31, 32, 33
    PWM_CHANNELS = frozenset({12, 13})
    VALID_CHANNELS = frozenset(
        {4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27}
    )

    def __init__(self) -> None:
        self.mode: int | None = None
        self.directions: dict[int, int] = {}
        self.pulls: dict[int, int] = {}
        self.levels: dict[int, int] = {}
        self.callbacks: dict[int, Callable[[int], None]] = {}
        self.pwms: dict[int, FakePWM] = {}
        self.history: list[tuple[str, int, int]] = []
        self.cleanups: list[int | None] = []
        self._events: list[threading.Thread] = []

    def PWM(self, channel: int, frequency_hz: float) -> FakePWM:
        """Create a PWM object on ``channel``."""
        return FakePWM(self, channel, frequency_hz)

    def setwarnings(self, enabled: bool) -> None:
        """Accepted and ignored."""

    def getmode(self) -> int | None:
        """The numbering mode, None before setmode."""
        return self.mode

    def setmode(self, mode: int) -> None:
        """Set BCM or BOARD numbering (once)."""
        if self.mode is not None and self.mode != mode:
            raise ValueError("A different mode has already been set!")
        self.mode = mode

    def _check(self, channel: int) -> None:
        if self.mode is None:
            raise RuntimeError(
                "Please set pin numbering mode using GPIO.setmode(GPIO.BOARD) or GPIO.setmode(GPIO.BCM)"
            )
        if channel not in self.VALID_CHANNELS:
            raise ValueError(f"Channel {channel} is invalid")

    def setup(self, channel: int, direction: int, pull_up_down: int = 20, initial: int | None = None) -> None:
        """Configure a channel as input or output."""
        self._check(channel)
        self.directions[channel] = direction
        self.pulls[channel] = pull_up_down
        if direction == self.OUT:
            self.levels[channel] = self.LOW if initial is None else initial
            self.history.append(("setup", channel, self.levels[channel]))
        else:
            self.levels.setdefault(channel, self.HIGH if pull_up_down == self.PUD_UP else self.LOW)

    def input(self, channel: int) -> int:
        """The channel's level."""
        if channel not in self.directions:
            raise RuntimeError("You must setup() the GPIO channel first")
        return self.levels[channel]

    def output(self, channel: int, value: int) -> None:
        """Drive an output channel."""
        if self.directions.get(channel) != self.OUT:
            raise RuntimeError("The GPIO channel has not been set up as an OUTPUT")
        self.levels[channel] = int(value)
        self.history.append(("output", channel, int(value)))

    def add_event_detect(
        self,
        channel: int,
        edge: int,
        callback: Callable[[int], None] | None = None,
        bouncetime: int | None = None,
    ) -> None:
        """Register an edge callback (only BOTH is emulated: every level change calls back)."""
        if self.directions.get(channel) != self.IN:
            raise RuntimeError("You must setup() the GPIO channel as an input first")
        if channel in self.callbacks:
            raise RuntimeError("Conflicting edge detection already enabled for this GPIO channel")
        if edge != self.BOTH or callback is None:
            raise NotImplementedError("the fake emulates BOTH edges with a callback only")
        self.callbacks[channel] = callback

    def remove_event_detect(self, channel: int) -> None:
        """Stop calling back for ``channel``."""
        self.callbacks.pop(channel, None)

    def cleanup(self, channel: int | None = None) -> None:
        """Release one channel, or all."""
        self.cleanups.append(channel)
        channels = list(self.directions) if channel is None else [channel]
        for ch in channels:
            self.directions.pop(ch, None)
            self.callbacks.pop(ch, None)
            self.pwms.pop(ch, None)

    # -- test side: the wiring --------------------------------------------------------------------------------

    def drive(self, channel: int, level: int) -> None:
        """Set an input's level from outside; the edge callback runs on a separate thread, as on a board."""
        if self.levels.get(channel) == level:
            return
        self.levels[channel] = level
        callback = self.callbacks.get(channel)
        if callback is not None:
            t = threading.Thread(target=callback, args=(channel,))
            t.start()
            t.join()  # keeps edge order deterministic; the callback still runs off the caller's thread

    def glitch(self, channel: int) -> None:
        """An edge the driver saw whose level bounced back before the callback read it (a short spike)."""
        callback = self.callbacks.get(channel)
        if callback is not None:
            t = threading.Thread(target=callback, args=(channel,))
            t.start()
            t.join()

    def module(self) -> Any:
        """Return self (it is used where the module object would be)."""
        return self
