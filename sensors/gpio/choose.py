"""The choice of GPIO backend for a device on this board, and the pin options every GPIO driver reads.

The backend is picked from the device-tree model (``<procfs_root>/device-tree/model``) or by the option
``backend``: :mod:`sensors.gpio.jetson` on a Jetson, :mod:`sensors.gpio.zero` everywhere else and on the
emulated board.
"""

from __future__ import annotations

import os
from typing import Any

from sensors.base import BuildContext
from sensors.errors import ConfigError, SensorError
from sensors.gpio.backend import BACKENDS, GpioBackend, Pull
from sensors.spec import DeviceSpec
from sensors.sysfs.files import TextReader, read_text


def read_model(procfs_root: str = "/proc", sysfs_root: str = "/sys", reader: TextReader = read_text) -> str:
    """Return the board model from the device tree, or ``""`` (not a device-tree board, e.g. a PC)."""
    for path in (
        os.path.join(procfs_root, "device-tree", "model"),
        os.path.join(sysfs_root, "firmware", "devicetree", "base", "model"),
    ):
        try:
            return reader(path).rstrip("\0\n")
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
        sim_factory = ctx.pin_factory(simulate=True)
        return ctx.gpio_backend("sim", lambda: ZeroBackend(sim_factory))  # type: ignore[no-any-return]
    if name == "auto":
        tree = ctx.files(simulate=False)
        name = (
            "jetson"
            if is_jetson(read_model(tree.procfs_root, tree.sysfs_root, tree.read_text))
            else "gpiozero"
        )
    if name == "jetson":
        from sensors.gpio.jetson import JetsonBackend

        module = ctx.jetson_gpio()
        return ctx.gpio_backend("jetson", lambda: JetsonBackend(module))  # type: ignore[no-any-return]
    factory = ctx.pin_factory(simulate=False)
    return ctx.gpio_backend("gpiozero", lambda: ZeroBackend(factory))  # type: ignore[no-any-return]


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
