"""The small GPIO interface every driver here uses, and the choice of backend for a board.

Two backends implement it: :mod:`sensors.gpio.zero` (gpiozero; Raspberry Pi, and the emulator) and
:mod:`sensors.gpio.jetson` (NVIDIA's Jetson.GPIO, since gpiozero does not run on Jetson boards). The backend is
picked from the device-tree model (``<procfs_root>/device-tree/model``) or by the option ``backend``. Pins are
BCM numbers on both boards (Jetson.GPIO maps the Pi-compatible 40-pin header in BCM mode).
"""

from __future__ import annotations

import abc
import os
from collections.abc import Callable
from typing import Any, Literal

from sensors.base import BuildContext
from sensors.errors import ConfigError, SensorError
from sensors.spec import DeviceSpec

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


def read_model(procfs_root: str = "/proc", sysfs_root: str = "/sys") -> str:
    """Return the board model from the device tree, or ``""`` (not a device-tree board, e.g. a PC)."""
    for path in (
        os.path.join(procfs_root, "device-tree", "model"),
        os.path.join(sysfs_root, "firmware", "devicetree", "base", "model"),
    ):
        try:
            with open(path, "rb") as f:
                return f.read().rstrip(b"\0\n").decode("utf-8", "replace")
        except OSError:
            continue
    return ""


def is_jetson(model: str) -> bool:
    """True for an NVIDIA Jetson model string (``NVIDIA Jetson Nano Developer Kit``, ``... Orin ...``)."""
    return "jetson" in model.lower() or model.lower().startswith("nvidia")


def pin_option(spec: DeviceSpec, name: str = "pin") -> int:
    """Return a BCM pin number option (GPIO0..GPIO27 on the 40-pin header)."""
    return spec.opt_int(name, min=0, max=27)


def pull_option(spec: DeviceSpec, default: Pull) -> Pull:
    """Return the ``pull`` option (``up``, ``down`` or ``none``)."""
    value = spec.opt_str("pull", default, choices=("up", "down", "none"))
    return "up" if value == "up" else "down" if value == "down" else "none"


def choose_backend(spec: DeviceSpec, ctx: BuildContext) -> GpioBackend:
    """Return the backend for ``spec`` (shared by every GPIO device of the gateway).

    ``simulate = true`` always uses gpiozero on the emulator's MockFactory. Otherwise ``backend`` decides;
    ``auto`` (default) picks Jetson.GPIO on a Jetson model and gpiozero everywhere else.

    Raises:
        SensorError: no GPIO library works on this machine (an OSError: the gateway retries later).
    """
    name = spec.opt_str("backend", "auto", choices=BACKENDS)
    from sensors.gpio.zero import ZeroBackend

    if spec.simulate:
        from sensors.sim.gpio import shared_sim

        sim = shared_sim(ctx)
        return ctx.shared("gpio-backend:sim", lambda: ZeroBackend(sim.factory))  # type: ignore[no-any-return]
    if name == "auto":
        name = "jetson" if is_jetson(read_model(ctx.procfs_root, ctx.sysfs_root)) else "gpiozero"
    if name == "jetson":
        from sensors.gpio.jetson import JetsonBackend, import_jetson_gpio

        module = ctx.shared("jetson-gpio", import_jetson_gpio)
        return ctx.shared("gpio-backend:jetson", lambda: JetsonBackend(module))  # type: ignore[no-any-return]
    from sensors.gpio.zero import make_real_factory

    factory = ctx.shared("gpio-factory", make_real_factory)
    return ctx.shared("gpio-backend:gpiozero", lambda: ZeroBackend(factory))  # type: ignore[no-any-return]


def zero_factory(spec: DeviceSpec, ctx: BuildContext) -> Any:
    """Return the gpiozero pin factory for a device that only gpiozero drives (HC-SR04, MCP3xxx).

    Raises:
        ConfigError: the board is a Jetson (gpiozero does not run there).
        SensorError: no gpiozero pin factory works on this machine.
    """
    backend = choose_backend(spec, ctx)
    factory = getattr(backend, "factory", None)
    if factory is None:
        raise ConfigError(
            f"{spec.key}.driver",
            f"driver {spec.driver!r} needs gpiozero, which does not run on {backend.name}",
        )
    return factory


def actuator_backend(spec: DeviceSpec, ctx: BuildContext) -> GpioBackend:
    """:func:`choose_backend` for an output: no GPIO library at all is a config error for that output."""
    try:
        return choose_backend(spec, ctx)
    except SensorError as exc:
        raise spec.error("driver", f"cannot drive GPIO on this machine: {exc}") from exc
