"""Reading sysfs attributes: one injectable function, so an emulator can inject the kernel's errors.

Regular files in a fake tree cannot fail with ``EIO`` the way ``in_temp_input`` of the DHT driver does; the
emulated tree hands drivers a reader that can (see :class:`sensors.sim.sysfs.FakeSysfs.read_text`).
"""

from __future__ import annotations

from collections.abc import Callable

TextReader = Callable[[str], str]
"""``read(path) -> text``; raises ``OSError`` with the kernel's errno."""

TextWriter = Callable[[str, str], None]
"""``write(path, text)``; raises ``OSError``."""


def read_text(path: str) -> str:
    """Read a sysfs attribute (one ``read(2)``: attributes are generated whole by the kernel)."""
    with open(path, encoding="ascii", errors="replace") as f:
        return f.read()


def write_text(path: str, text: str) -> None:
    """Write a sysfs attribute."""
    with open(path, "w", encoding="ascii") as f:
        f.write(text)
