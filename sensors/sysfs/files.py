"""Reading sysfs attributes: one injectable function, so an emulator can inject the kernel's errors.

Regular files in a fake tree cannot fail with ``EIO`` the way ``in_temp_input`` of the DHT driver does; the
emulated tree hands drivers a reader that can (see :class:`sensors.sim.sysfs.FakeSysfs.read_text`). Drivers
get their reader from the build context (``ctx.files()``); the functions here are the real ones, the
defaults of the drivers' constructors.
"""

from __future__ import annotations

from sensors.buses import TextReader as TextReader
from sensors.buses import TextWriter as TextWriter
from sensors.hardware import REAL_HARDWARE


def read_text(path: str) -> str:
    """Read a sysfs attribute (one ``read(2)``: attributes are generated whole by the kernel)."""
    return REAL_HARDWARE.read_text(path)


def write_text(path: str, text: str) -> None:
    """Write a sysfs attribute."""
    REAL_HARDWARE.write_text(path, text)
