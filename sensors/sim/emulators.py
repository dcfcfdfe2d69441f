"""The emulated hardware a simulated :class:`~sensors.base.BuildContext` hands to drivers.

The emulator side depends on the drivers, never the reverse: drivers ask ``ctx.emulated()`` for a bus, a pin
factory, a pty or a tree, and the composition root (``gateway.devices``, the CLI, the tests) puts
:data:`EMULATORS` into the context.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sensors.base import BuildContext, Emulators
from sensors.sim.control import start_control
from sensors.sim.gpio import SimGpio, shared_sim
from sensors.sim.gpio import attach_echo as _attach_echo
from sensors.sim.i2c.ads1x15 import ADS1x15Chip
from sensors.sim.i2c.bh1750 import BH1750Chip
from sensors.sim.i2c.bme280 import BME280Chip
from sensors.sim.i2c.ina219 import INA219Chip
from sensors.sim.i2c.mpu6050 import MPU6050Chip
from sensors.sim.i2c.sht3x import SHT3xChip
from sensors.sim.lines import LineEmulator
from sensors.sim.nmea import NmeaEmulator
from sensors.sim.pms import PmsEmulator
from sensors.sim.serial import DeviceModel, Noise, PtyLink, SerialEmulator
from sensors.sim.smbus import FakeSMBus
from sensors.sim.sysfs import FakeSysfs, shared_tree
from sensors.sim.sysfs_host import shared_board

CHIPS: dict[str, Callable[..., object]] = {
    "ads1x15": ADS1x15Chip,
    "bh1750": BH1750Chip,
    "bme280": BME280Chip,
    "ina219": INA219Chip,
    "mpu6050": MPU6050Chip,
    "sht3x": SHT3xChip,
}
"""Emulated I2C chips by the name the drivers ask for."""

SERIAL_DEVICES: dict[str, Callable[..., DeviceModel]] = {
    "lines": LineEmulator,
    "nmea": NmeaEmulator,
    "pms": PmsEmulator,
}
"""Emulated serial devices by the name the drivers ask for."""


class SimEmulators:
    """:class:`~sensors.base.Emulators` on the emulators of ``sensors.sim``; shared ones live in the context."""

    def i2c_bus(self, ctx: BuildContext, bus: int) -> FakeSMBus:
        """The context's emulated I2C bus ``bus``."""
        start_control(ctx)  # test-only: faults from another process (sensors/sim/control.py)
        fake: FakeSMBus = ctx.shared(f"sim-i2c-{bus}", lambda: FakeSMBus(bus))
        return fake

    def i2c_chip(self, chip: str, **params: Any) -> object:
        """A fresh emulated ``chip``."""
        return CHIPS[chip](**params)

    def gpio(self, ctx: BuildContext) -> SimGpio:
        """The context's one emulated GPIO board."""
        return shared_sim(ctx)

    def attach_echo(
        self, factory: Any, trigger_pin: int, echo_pin: int, distance_m: Callable[[], float]
    ) -> Any:
        """Wire an emulated HC-SR04 to ``factory``."""
        return _attach_echo(factory, trigger_pin, echo_pin, distance_m)

    def serial_port(
        self,
        ctx: BuildContext,
        key: str,
        device: str,
        period_s: float,
        noise: float,
        seed: int,
        **params: Any,
    ) -> str:
        """Start (once per ``key``) the emulated serial ``device`` on a pty; return the pty's path."""

        def start() -> SerialEmulator:
            model = SERIAL_DEVICES[device](**params)
            return SerialEmulator(PtyLink(), model, period_s, Noise(noise, seed=seed)).start()

        sim: SerialEmulator = ctx.shared(key, start)
        return sim.port_path

    def sysfs(self, ctx: BuildContext) -> FakeSysfs:
        """The context's emulated sysfs tree."""
        start_control(ctx)
        return shared_tree(ctx)

    def host_board(self, ctx: BuildContext, board: str) -> FakeSysfs:
        """The context's emulated tree of ``board``."""
        return shared_board(ctx, board)


EMULATORS: Emulators = SimEmulators()
"""The emulators a composition root wires into a :class:`~sensors.base.BuildContext`."""


def context_with_emulators(**kwargs: Any) -> BuildContext:
    """A :class:`~sensors.base.BuildContext` with :data:`EMULATORS` wired in (``kwargs`` as for the context)."""
    return BuildContext(emulators=EMULATORS, **kwargs)


def simulated_bus(bus_number: int = 1) -> Any:
    """Return a fake bus carrying the I2C demo's chips (``sensors.i2c.DEMO``) on ``bus_number``."""
    import importlib

    from sensors.i2c import DEMO, SENSOR_DRIVERS
    from sensors.spec import DeviceSpec

    ctx = context_with_emulators(simulate=True)
    for index, table in enumerate(DEMO):
        options = {k: v for k, v in table.items() if k not in ("id", "driver", "simulate", "interval_s")}
        if options.get("bus", 1) != bus_number:
            continue
        module, _, func = SENSOR_DRIVERS[table["driver"]].partition(":")
        spec = DeviceSpec(table["id"], table["driver"], f"DEMO[{index}]", table["interval_s"], True, options)
        getattr(importlib.import_module(module), func)(spec, ctx)
    return ctx.resources.get(f"sim-i2c-{bus_number}") or FakeSMBus(bus_number)
