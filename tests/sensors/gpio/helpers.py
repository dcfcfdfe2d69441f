"""Building GPIO drivers on an injected MockFactory or the fake Jetson.GPIO."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from sensors.base import Actuator, BuildContext, Sensor, Values
from sensors.registry import actuator_factory, sensor_factory
from sensors.spec import DeviceSpec
from tests.conftest import scaled


def spec(driver: str, dev_id: str = "dev", simulate: bool = False, **options: Any) -> DeviceSpec:
    """A DeviceSpec as the config loader would produce it."""
    return DeviceSpec(dev_id, driver, "sensors[0]", 1.0, simulate, options)


def build_sensor(ctx: BuildContext, driver: str, **options: Any) -> Sensor:
    """Build a sensor through the registry (the same path the gateway takes)."""
    factory = sensor_factory(driver)
    assert factory is not None
    return factory(spec(driver, **options), ctx)


def build_actuator(ctx: BuildContext, driver: str, **options: Any) -> Actuator:
    """Build an actuator through the registry."""
    factory = actuator_factory(driver)
    assert factory is not None
    return factory(spec(driver, **options), ctx)


class Recorder:
    """Collects emitted (values, ts_ns) from any thread."""

    def __init__(self) -> None:
        self.events: list[tuple[dict[str, Any], int | None]] = []

    def __call__(self, values: Values, ts_ns: int | None) -> None:
        self.events.append((dict(values), ts_ns))

    def states(self) -> list[tuple[Any, ...]]:
        """(active, held, activations) of every event, in order."""
        return [(v["active"], v["held"], v["activations"]) for v, _ in self.events]


def wait_for(cond: Callable[[], bool], timeout_s: float = 2.0) -> bool:
    """Poll ``cond`` until true or the (scaled) timeout passes."""
    deadline = time.monotonic() + scaled(timeout_s)
    while time.monotonic() < deadline:
        if cond():
            return True
        time.sleep(0.005)
    return cond()
