"""Emulated GPIO for demo mode and tests: a gpiozero MockFactory whose input pins a background thread drives
plausibly (a door contact with switch bounce, a PIR, a line sensor, an anemometer), PWM-capable mock pins, an
HC-SR04 echo and a bit-level MCP3008/MCP3208 on the mock SPI bus.

The drivers in :mod:`sensors.gpio` run unchanged on it: only the pin factory differs.
"""

from __future__ import annotations

import heapq
import math
import random
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from typing import Any

from gpiozero import Device, InputDevice, OutputDevice
from gpiozero.mixins import SharedMixin
from gpiozero.pins.mock import MockFactory, MockPin, MockPWMPin, MockSPIDevice, MockTriggerPin, PinState
from gpiozero.pins.spi import SPISoftware, SPISoftwareBus

from sensors.base import BuildContext
from sensors.sim.history import BoundedList

Script = Iterator[tuple[float, bool]]
"""Steps of an input: (seconds to wait, level to drive afterwards)."""

SPEED_OF_SOUND_M_S = 343.26  # gpiozero DistanceSensor's default (dry air at 20 °C)
PIN_STATE_HISTORY = 64
"""Level changes each emulated pin remembers (``MockPin.states``), oldest forgotten first (between 64 and 127
are kept). gpiozero keeps them all, for tests; the demo's software SPI clock alone changes level ~50 times per
MCP3008 read, which grew the idle demo by ~19 kB/s. Tests look at the last few changes; 64 covers an MCP3208
transaction (48 clock edges). Small, so slow pins (a door contact, a PIR) reach the bound within minutes: with
256 the demo's RSS still rose by ~0.4 MB over a 10-minute soak while they filled."""


class StateHistory(BoundedList[PinState]):
    """A pin's ``states`` list that keeps only the last :data:`PIN_STATE_HISTORY` (to twice that) entries.
    Still a list, so tests can index and slice it as gpiozero's."""

    limit = PIN_STATE_HISTORY


class _BoundedStates:
    """Mixin for mock pins: ``clear_states`` starts a :class:`StateHistory` instead of an unbounded list."""

    _state: bool
    _last_change: float
    states: list[PinState]

    def clear_states(self) -> None:
        """Forget the level history (as gpiozero's ``MockPin.clear_states``), keeping it bounded from now on."""
        self._last_change = time.monotonic()
        self.states = StateHistory([PinState(0.0, self._state)])


_BOUNDED: dict[type[Any], type[Any]] = {}


def bounded_pin_class(pin_class: type[Any]) -> type[Any]:
    """``pin_class`` with a bounded ``states`` history (a cached subclass; still an instance of the original,
    so gpiozero's own checks, e.g. PWM support or ``MockSPIClockPin``, see what they expect)."""
    if issubclass(pin_class, _BoundedStates):
        return pin_class
    if pin_class not in _BOUNDED:
        _BOUNDED[pin_class] = type(f"Bounded{pin_class.__name__}", (_BoundedStates, pin_class), {})
    return _BOUNDED[pin_class]


class _FactorySPIBus(SPISoftwareBus):  # type: ignore[misc]
    """gpiozero 2.0.1's SPISoftwareBus calls ``Device.__init__()`` without its pin_factory, which makes
    gpiozero load its global default factory (and fail off a Pi). This one passes the injected factory on."""

    def __init__(self, clock_pin: Any, mosi_pin: Any, miso_pin: Any, *, pin_factory: Any) -> None:
        self.lock = None
        self.clock = None
        self.mosi = None
        self.miso = None
        Device.__init__(self, pin_factory=pin_factory)
        self.lock = threading.RLock()
        try:
            self.clock = OutputDevice(clock_pin, active_high=True, pin_factory=pin_factory)
            self.mosi = OutputDevice(mosi_pin, pin_factory=pin_factory)
            self.miso = InputDevice(miso_pin, pin_factory=pin_factory)
        except Exception:
            self.close()
            raise


class _FactorySPI(SPISoftware):  # type: ignore[misc]
    """Software SPI on the mock pins, built on :class:`_FactorySPIBus`."""

    def __init__(
        self, clock_pin: Any, mosi_pin: Any, miso_pin: Any, select_pin: Any, *, pin_factory: Any
    ) -> None:
        self._bus = None
        self._select = None
        super(SPISoftware, self).__init__(pin_factory=pin_factory)
        try:
            self._clock_phase = False
            self._lsb_first = False
            self._bits_per_word = 8
            self._bus = _FactorySPIBus(clock_pin, mosi_pin, miso_pin, pin_factory=pin_factory)
            self._select = OutputDevice(select_pin, active_high=False, pin_factory=pin_factory)
        except Exception:
            self.close()
            raise


class _SharedFactorySPI(SharedMixin, _FactorySPI):  # type: ignore[misc]
    @classmethod
    def _shared_key(
        cls, clock_pin: Any, mosi_pin: Any, miso_pin: Any, select_pin: Any, pin_factory: Any
    ) -> Any:
        return (clock_pin, select_pin)


class SimFactory(MockFactory):  # type: ignore[misc]
    """MockFactory whose pins all support PWM, and which hands back a pin an emulator already created.

    gpiozero's MockFactory refuses to return an existing pin of another class; but the SPI and echo emulators
    must create their pins (clock, select, trigger) before the gpiozero device claims them.
    """

    def __init__(self) -> None:
        super().__init__(pin_class=MockPWMPin)

    def _get_spi_class(self, shared: bool, hardware: bool) -> Any:
        return _SharedFactorySPI if shared else _FactorySPI

    def pin(self, name: Any, pin_class: Any = None, **kwargs: Any) -> Any:
        """Return the pin ``name``, creating it with ``pin_class`` (default MockPWMPin) if it does not exist.

        Every pin it creates keeps a bounded level history (:func:`bounded_pin_class`): the demo runs for weeks.
        """
        if pin_class is None:
            for _header, info in self.board_info.find_pin(name):
                if info in self.pins:
                    return self.pins[info]
        return super().pin(name, pin_class=bounded_pin_class(pin_class or self.pin_class), **kwargs)


class Mcp3xxxEmulator(MockSPIDevice):  # type: ignore[misc]
    """MCP3004/3008 (10-bit) or MCP3204/3208 (12-bit) on the mock SPI bus, bit by bit.

    Per Microchip DS21295 (MCP3008) and DS21298 (MCP3208): after the start bit the master clocks in SGL/DIFF
    and D2..D0; the ADC samples for one clock, outputs a null bit, then the result MSB first.

    Args:
        factory: the mock pin factory.
        select_pin: chip-select pin (BCM 8 for CE0, 7 for CE1 on SPI0).
        bits: 10 or 12.
        vref_v: reference voltage.
        source: optional ``source(channel, t_s) -> volts``; otherwise :attr:`voltages` is used.
    """

    rx_buf: list[int]
    tx_buf: list[int]

    def __init__(
        self,
        factory: Any,
        select_pin: int = 8,
        *,
        bits: int = 10,
        vref_v: float = 3.3,
        source: Callable[[int, float], float] | None = None,
    ) -> None:
        super().__init__(11, 10, 9, select_pin, pin_factory=factory)
        self.bits = bits
        self.vref_v = vref_v
        self.source = source
        self.voltages = [0.0] * 8
        self.conversions = 0
        self._phase = "idle"

    def voltage(self, channel: int) -> float:
        """The input voltage of ``channel`` now."""
        if self.source is not None:
            return self.source(channel, time.monotonic())
        return self.voltages[channel]

    def code(self, single: bool, channel: int) -> int:
        """The conversion result for a request (single-ended or pseudo-differential IN+ = channel)."""
        volts = self.voltage(channel)
        if not single:
            volts -= self.voltage(channel ^ 1)
        top = (1 << self.bits) - 1
        return max(0, min(top, round(volts / self.vref_v * top)))

    def on_start(self) -> None:
        """Chip select asserted: wait for a start bit."""
        super().on_start()
        self._phase = "idle"

    def on_bit(self) -> None:
        """Parse start, SGL/DIFF and D2..D0, then queue sample + null + result bits."""
        if self._phase == "idle":
            if self.rx_buf[-1]:
                self._phase = "command"
                self.rx_buf = []
        elif self._phase == "command" and len(self.rx_buf) == 4:
            bits = [int(b) for b in self.rx_buf]  # PWM-capable mock pins report 0.0/1.0
            single = bool(bits[0])
            channel = (bits[1] << 2) | (bits[2] << 1) | bits[3]
            self.tx_word(self.code(single, channel), self.bits + 2)
            self.conversions += 1
            self._phase = "result"


class EchoPin(_BoundedStates, MockPin):  # type: ignore[misc]
    """HC-SR04 echo line whose edges carry the time they happened, not the time a thread got round to them.

    Real edge-timing backends (lgpio, gpiod) report kernel timestamps, so a busy CPU delays the callback but not
    the measured pulse. ``MockPin`` stamps an edge when ``drive_high``/``drive_low`` runs, so an emulator thread
    that overslept its ``sleep(echo_time)`` on a loaded machine made the pulse, and the distance, too long.
    """

    _state: bool
    _last_change: float

    def drive_at(self, level: bool, t: float) -> None:
        """Change the level as if it happened at monotonic time ``t``, and report the edge as gpiozero does."""
        assert self._function == "input"
        if self._state == level:
            return
        self._state = level
        self.states.append(PinState(t - self._last_change, level))
        self._last_change = t
        if self._edges in ("both", "rising" if level else "falling") and self._when_changed is not None:
            self._call_when_changed()


class EchoTriggerPin(_BoundedStates, MockTriggerPin):  # type: ignore[misc]
    """HC-SR04 trigger: each trigger pulse makes the echo pin high for the round trip to ``distance_m()``."""

    def __init__(self, factory: Any, info: Any, echo_pin: Any, distance_m: Callable[[], float]) -> None:
        super().__init__(factory, info, echo_pin=echo_pin)
        self.distance_m = distance_m
        self.connected = True
        """False emulates an unplugged sensor: triggers get no echo."""

    def _echo(self) -> None:
        if not self.connected:
            return
        self.echo_time = 2.0 * self.distance_m() / SPEED_OF_SOUND_M_S
        time.sleep(0.001)  # the module's burst before the echo line goes high
        rise = time.monotonic()
        self.echo_pin.drive_at(True, rise)
        time.sleep(self.echo_time)
        self.echo_pin.drive_at(False, rise + self.echo_time)  # on time, however late this thread woke


def attach_echo(factory: Any, trigger_pin: int, echo_pin: int, distance_m: Callable[[], float]) -> Any:
    """Wire an HC-SR04 emulation to ``factory`` before a DistanceSensor claims the pins; returns the trigger."""
    echo = factory.pin(echo_pin, pin_class=EchoPin)
    return factory.pin(trigger_pin, pin_class=EchoTriggerPin, echo_pin=echo, distance_m=distance_m)


def _bounce(rng: random.Random, level: bool) -> Script:
    for _ in range(rng.randint(2, 4)):  # contact bounce: a few sub-millisecond glitches before it settles
        yield rng.uniform(0.0002, 0.001), level
        yield rng.uniform(0.0002, 0.001), not level
    yield rng.uniform(0.0002, 0.001), level


def script_for(kind: str, rng: random.Random) -> Script:
    """An endless plausible level sequence for an input of driver ``kind``."""
    if kind == "pulse_counter":  # anemometer reed switch closing to GND, 1..12 Hz with gusts
        t = 0.0
        while True:
            freq_hz = 6.5 + 5.5 * math.sin(t / 15.0) + rng.uniform(-0.5, 0.5)
            half_s = 0.5 / max(1.0, freq_hz)
            yield half_s, False
            yield half_s, True
            t += 2 * half_s
    idle = kind == "button"  # a button idles high (pull-up), others idle low (door closed, no motion)
    yield 0.0, idle
    while True:
        if kind == "motion":  # PIR: output high 2-6 s after motion, clean edges
            yield rng.uniform(4.0, 20.0), True
            yield rng.uniform(2.0, 6.0), False
            continue
        if kind == "line":
            yield rng.uniform(0.5, 3.0), True
            yield rng.uniform(0.5, 3.0), False
            continue
        # button / door contact: bounces on both edges; sometimes held long enough to count as a hold
        yield from (
            (rng.uniform(3.0, 12.0) if i == 0 else d, lv) for i, (d, lv) in enumerate(_bounce(rng, not idle))
        )
        yield from (
            (rng.choice((0.3, 0.8, 3.5)) if i == 0 else d, lv) for i, (d, lv) in enumerate(_bounce(rng, idle))
        )


class SimGpio:
    """The emulated board: one SimFactory, a thread driving registered input pins, and SPI ADC emulators.

    Args:
        seed: base of the per-pin random scripts (each pin's script is seeded from it and the sensor id).
    """

    def __init__(self, seed: int = 0) -> None:
        self.factory = SimFactory()
        self.seed = seed
        self.adcs: dict[tuple[int, int], Mcp3xxxEmulator] = {}
        self._lock = threading.Lock()
        self._queue: list[tuple[float, int, int]] = []
        self._scripts: dict[int, Script] = {}
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self.drives_total = 0

    def drive_input(self, pin: int, kind: str, name: str) -> None:
        """Drive ``pin`` like an input of driver ``kind`` from now on (replacing any earlier script)."""
        rng = random.Random(self.seed ^ zlib.crc32(name.encode()))
        with self._lock:
            self._scripts[pin] = script_for(kind, rng)
            self._schedule(pin, time.monotonic())
        self.factory.pin(pin)
        self._wake.set()
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sim-gpio", daemon=True)
            self._thread.start()

    def _schedule(self, pin: int, now_s: float) -> None:
        delay_s, level = next(self._scripts[pin])
        heapq.heappush(self._queue, (now_s + delay_s, pin, int(level)))

    def _run(self) -> None:
        while not self._stop.is_set():
            with self._lock:
                due = self._queue[0] if self._queue else None
            wait_s = 1.0 if due is None else due[0] - time.monotonic()
            if wait_s > 0:
                self._wake.wait(min(wait_s, 1.0))
                self._wake.clear()
                continue
            with self._lock:
                t_s, pin, level = heapq.heappop(self._queue)
                if pin in self._scripts:
                    self._schedule(pin, t_s)
            self._drive(pin, bool(level))

    def _drive(self, pin: int, level: bool) -> None:
        mock = self.factory.pin(pin)
        try:
            mock.drive_high() if level else mock.drive_low()
        except AssertionError:
            return  # the pin is an output right now (claimed by something else): nothing to drive
        self.drives_total += 1

    def adc(self, port: int, device: int, bits: int, vref_v: float) -> Mcp3xxxEmulator:
        """The MCP3xxx emulator on SPI ``port``.``device`` (created once, with slowly varying inputs)."""
        key = (port, device)
        if key not in self.adcs:

            def source(channel: int, t_s: float) -> float:
                # Soil moisture probe, light sensor, battery divider, then a slow ramp on the rest.
                base = (1.65, 2.4, 2.05, 1.2, 0.8, 2.9, 0.3, 3.0)[channel]
                return max(0.0, min(vref_v, base + 0.25 * math.sin(t_s / (20.0 + 7 * channel))))

            self.adcs[key] = Mcp3xxxEmulator(
                self.factory, 8 if device == 0 else 7, bits=bits, vref_v=vref_v, source=source
            )
        return self.adcs[key]

    def close(self) -> None:
        """Stop the driving thread and detach the emulators."""
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        with self._lock:
            self._scripts.clear()
            self._queue.clear()
        for adc in self.adcs.values():
            adc.close()


def shared_sim(ctx: BuildContext) -> SimGpio:
    """The gateway's one emulated GPIO board."""
    sim: SimGpio = ctx.shared("sim:gpio", SimGpio)
    return sim
