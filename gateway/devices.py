"""Devices: the composition root of the hardware. Builds the configured sensors and actuators through the
driver registry on a build context that can hand out emulated hardware, with a :class:`DeferredSensor` standing
in for hardware that is absent at start.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import Any

from gateway.config import Config, ConfigErrors
from gateway.protocol.actuation import default_min_interval_s
from gateway.rules_config import rule_build_errors
from sensors import registry
from sensors.base import Actuator, BuildContext, Sensor, SensorInfo, Values
from sensors.errors import ConfigError, UnknownOptions
from sensors.sim.emulators import context_with_emulators
from sensors.spec import DeviceSpec

log = logging.getLogger("gateway.app")  # the name journal filters know from before the move


class DeferredSensor(Sensor):
    """Stands in for a sensor whose hardware was absent at start (e.g. /dev/i2c-1 missing): every ``open``
    retries the build, so the sensor comes up by itself once the device appears."""

    def __init__(self, spec: DeviceSpec, ctx: BuildContext, reason: str) -> None:
        super().__init__(
            SensorInfo(spec.id, spec.driver, (), spec.interval_s or 1.0, spec.simulate, description=reason)
        )
        self.spec = spec
        self.ctx = ctx
        self.inner: Sensor | None = None
        self.bus_id = f"deferred:{spec.id}"

    def open(self) -> None:
        """Build the real driver (raises OSError while the hardware is still missing), then open it."""
        if self.inner is None:
            factory = registry.sensor_factory(self.spec.driver)
            assert factory is not None
            self.inner = factory(self.spec, self.ctx)
            self.bus_id = self.inner.bus_id
            self.info = (
                self.inner.info
            )  # the real catalogue entry (fields, units) for clients that connect now
        self.inner.open()

    def read(self) -> Values:
        """Read through the real driver."""
        if self.inner is None:
            raise OSError("device not available")
        return self.inner.read()

    def close(self) -> None:
        """Close the real driver, if built."""
        if self.inner is not None:
            self.inner.close()


def build_context(**kwargs: Any) -> BuildContext:
    """The gateway's build context (``kwargs`` as for :class:`BuildContext`): real hardware, and the emulators of
    ``sensors.sim`` for every device configured with ``simulate`` (this is where they are wired in)."""
    return context_with_emulators(**kwargs)


def _with_file(exc: ConfigError, file: str | None) -> list[ConfigError]:
    """The errors a driver raised (several for :class:`UnknownOptions`), each naming ``file``."""
    each = exc.errors if isinstance(exc, UnknownOptions) else [exc]
    return [e if e.file or not file else e.with_file(file) for e in each]


def build_devices(config: Config, ctx: BuildContext) -> tuple[list[Sensor], list[Actuator]]:
    """Instantiate every configured sensor and actuator.

    Raises:
        ConfigErrors: unknown drivers or options a driver rejects (all of them, naming file and key).
    """
    errors: list[ConfigError] = []
    sensors: list[Sensor] = []
    actuators: list[Actuator] = []
    file = config.source
    for spec in config.sensors:
        factory = registry.sensor_factory(spec.driver)
        if factory is None:
            known = ", ".join(sorted(registry.sensor_drivers()))
            errors.append(
                ConfigError(
                    f"{spec.key}.driver", f"unknown sensor driver {spec.driver!r}; known: {known}", file
                )
            )
            continue
        try:
            sensors.append(factory(spec, ctx))
        except ConfigError as exc:
            errors += _with_file(exc, file)
        except OSError as exc:
            log.warning("sensor %s: hardware not available yet (%s); will keep trying", spec.id, exc)
            sensors.append(DeferredSensor(spec, ctx, "hardware not available at start"))
    for spec in config.actuators:
        afactory = registry.actuator_factory(spec.driver)
        if afactory is None:
            known = ", ".join(sorted(registry.actuator_drivers())) or "(none in this build)"
            errors.append(
                ConfigError(
                    f"{spec.key}.driver", f"unknown actuator driver {spec.driver!r}; known: {known}", file
                )
            )
            continue
        try:
            act = afactory(spec, ctx)
        except ConfigError as exc:
            errors += _with_file(exc, file)
            continue
        limit_s = spec.min_interval_s
        act.info = replace(
            act.info, min_interval_s=default_min_interval_s(spec.driver) if limit_s is None else limit_s
        )
        actuators.append(act)
    fields = {
        s.info.id: None if isinstance(s, DeferredSensor) else [f.name for f in s.info.fields] for s in sensors
    }
    for e in rule_build_errors(config.rules, fields, {a.info.id: a.info for a in actuators}):
        errors += _with_file(e, file)
    if errors:
        raise ConfigErrors(errors)
    return sensors, actuators


def driver_errors(cfg: Config) -> list[ConfigError]:
    """Build every driver of ``cfg`` on emulators (nothing touches real hardware) and return every option
    mistake the drivers report; ``run`` adds these to the file's own mistakes too."""
    sim = replace(
        cfg,
        sensors=tuple(replace(s, simulate=True) for s in cfg.sensors),
        actuators=tuple(replace(a, simulate=True) for a in cfg.actuators),
    )
    ctx = build_context(simulate=True)
    try:
        sensors, actuators = build_devices(sim, ctx)
    except ConfigErrors as exc:
        return exc.errors
    finally:
        ctx.close()
    for close in [s.close for s in sensors] + [a.close for a in actuators]:
        try:
            close()
        except Exception:  # closing emulators after a dry build is best effort
            continue
    return []
