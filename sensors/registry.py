"""Driver lookup: driver name -> factory, by family.

Each family package (``sensors.i2c``, ``sensors.gpio``, ``sensors.serial``, ``sensors.sysfs``,
``sensors.system``, ``sensors.synthetic``) exposes, in its ``__init__`` and without importing hardware libraries:

* ``SENSOR_DRIVERS: dict[str, str]`` - driver name -> ``"module:function"``; the function has the signature
  ``build(spec: DeviceSpec, ctx: BuildContext) -> Sensor``.
* ``ACTUATOR_DRIVERS: dict[str, str]`` - the same for ``Actuator`` factories (optional).
* ``DEMO: list[dict]`` - config tables (as if read from TOML, ``simulate = true``) that the demo mode runs.

Keeping the maps as strings lets ``sensorcast run`` import only the drivers the config uses.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any, cast

from sensors.base import Actuator, BuildContext, Sensor
from sensors.spec import DeviceSpec

FAMILIES: tuple[str, ...] = (
    "sensors.synthetic",
    "sensors.system",
    "sensors.i2c",
    "sensors.gpio",
    "sensors.serial",
    "sensors.sysfs",
)

SensorFactory = Callable[[DeviceSpec, BuildContext], Sensor]
ActuatorFactory = Callable[[DeviceSpec, BuildContext], Actuator]


def _families() -> list[Any]:
    mods = []
    for name in FAMILIES:
        try:
            mods.append(importlib.import_module(name))
        except ModuleNotFoundError as exc:
            if exc.name != name:  # a family that exists but is broken must not hide
                raise
    return mods


def _table(attr: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for mod in _families():
        out.update(getattr(mod, attr, {}))
    return out


def sensor_drivers() -> dict[str, str]:
    """Return every known sensor driver name -> ``module:function``."""
    return _table("SENSOR_DRIVERS")


def actuator_drivers() -> dict[str, str]:
    """Return every known actuator driver name -> ``module:function``."""
    return _table("ACTUATOR_DRIVERS")


def demo_tables() -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Return the (sensors, actuators) config tables the demo runs, from every family."""
    sensors: list[dict[str, Any]] = []
    actuators: list[dict[str, Any]] = []
    for mod in _families():
        sensors.extend(getattr(mod, "DEMO", []))
        actuators.extend(getattr(mod, "DEMO_ACTUATORS", []))
    return sensors, actuators


def _load(target: str) -> Callable[..., Any]:
    module, _, func = target.partition(":")
    return cast(Callable[..., Any], getattr(importlib.import_module(module), func))


def sensor_factory(driver: str) -> SensorFactory | None:
    """Return the factory of sensor ``driver``, or None if no family knows it."""
    target = sensor_drivers().get(driver)
    return cast(SensorFactory, _load(target)) if target else None


def actuator_factory(driver: str) -> ActuatorFactory | None:
    """Return the factory of actuator ``driver``, or None if no family knows it."""
    target = actuator_drivers().get(driver)
    return cast(ActuatorFactory, _load(target)) if target else None
