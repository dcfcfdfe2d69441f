"""A driver family for doctor tests: devices that read fixture /sys and /dev trees like real drivers do.

Registered by tests through ``sensors.registry.FAMILIES``; never part of the product.
"""

from __future__ import annotations

import errno
import os
import time

from sensors.base import BuildContext, FieldSpec, Sensor, SensorInfo, Values
from sensors.errors import SensorError
from sensors.spec import DeviceSpec

SENSOR_DRIVERS: dict[str, str] = {
    "fixture_sysfs": "tests.deploy.fixture_drivers:build_sysfs",
    "fixture_i2c": "tests.deploy.fixture_drivers:build_i2c",
}


class SysfsValue(Sensor):
    """Reads an integer from a file under the sysfs root (as thermal or IIO drivers do)."""

    bus_id = "sysfs"

    def __init__(self, info: SensorInfo, path: str) -> None:
        super().__init__(info)
        self.path = path

    def read(self) -> Values:
        """Return the file's integer, or raise OSError as the kernel would."""
        with open(self.path) as f:
            return {"value": int(f.read().strip())}


class I2cNode(Sensor):
    """Opens /dev/i2c-N under the dev root like smbus2 does; its chip answers per the ``answer`` option."""

    def __init__(self, info: SensorInfo, node: str, answer: str) -> None:
        super().__init__(info)
        self.node = node
        self.answer = answer
        self.fd: int | None = None
        self.bus_id = node

    def open(self) -> None:
        """Open the node read-write (ENOENT when I2C is off, EACCES without the i2c group)."""
        self.fd = os.open(self.node, os.O_RDWR)

    def read(self) -> Values:
        """``ack``: a value; ``nack``: errno 121 as a missing chip gives; ``hang``: longer than any timeout."""
        if self.answer == "nack":
            raise SensorError(errno.EREMOTEIO, "Remote I/O error")
        if self.answer == "hang":
            time.sleep(2)
        return {"temperature_c": 21.5}

    def close(self) -> None:
        """Close the node."""
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _info(spec: DeviceSpec, field: str) -> SensorInfo:
    return SensorInfo(spec.id, spec.driver, (FieldSpec(field),), spec.interval_s)


def build_sysfs(spec: DeviceSpec, ctx: BuildContext) -> SysfsValue:
    """Options: ``path`` relative to the sysfs root."""
    spec.check_unknown(["path"])
    return SysfsValue(_info(spec, "value"), os.path.join(ctx.sysfs_root, spec.opt_str("path")))


def build_i2c(spec: DeviceSpec, ctx: BuildContext) -> I2cNode:
    """Options: ``bus``, ``address``, ``answer`` (ack, nack, hang)."""
    spec.check_unknown(["bus", "address", "answer"])
    bus = spec.opt_int("bus", 1, min=0)
    spec.opt_int("address", min=0x03, max=0x77)
    node = os.path.join(ctx.devfs_root, f"i2c-{bus}")
    return I2cNode(
        _info(spec, "temperature_c"), node, spec.opt_str("answer", "ack", choices=["ack", "nack", "hang"])
    )
