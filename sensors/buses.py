"""The buses a :class:`~sensors.base.BuildContext` hands to drivers, as small typed protocols.

A driver never opens hardware itself: it asks its build context for an I2C bus, a serial port, a file tree
(sysfs/procfs), a GPIO pin factory, a clock and a sleep. Whether what comes back is real hardware
(:mod:`sensors.hardware`), an emulator (``sensors.sim``), a recording wrapper around either, or a replay of a
capture is the composition root's choice (:class:`BusTap`); the driver cannot tell them apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

TextReader = Callable[[str], str]
"""``read(path) -> text``; raises ``OSError`` with the kernel's errno."""

TextWriter = Callable[[str, str], None]
"""``write(path, text)``; raises ``OSError``."""

Clock = Callable[[], float]
"""Monotonic seconds."""

Sleep = Callable[[float], None]
"""Block for a number of seconds."""


class SMBusLike(Protocol):
    """The subset of ``smbus2.SMBus`` that sensorcast drivers use."""

    def write_quick(self, i2c_addr: int, force: bool | None = None) -> None: ...

    def read_byte(self, i2c_addr: int, force: bool | None = None) -> int: ...

    def write_byte(self, i2c_addr: int, value: int, force: bool | None = None) -> None: ...

    def read_byte_data(self, i2c_addr: int, register: int, force: bool | None = None) -> int: ...

    def write_byte_data(
        self, i2c_addr: int, register: int, value: int, force: bool | None = None
    ) -> None: ...

    def read_i2c_block_data(
        self, i2c_addr: int, register: int, length: int, force: bool | None = None
    ) -> list[int]: ...

    def write_i2c_block_data(
        self, i2c_addr: int, register: int, data: Sequence[int], force: bool | None = None
    ) -> None: ...

    def i2c_rdwr(self, *i2c_msgs: Any) -> None: ...

    def close(self) -> None: ...


class SerialPort(Protocol):
    """The part of ``serial.Serial`` the drivers use (``loop://`` and ``socket://`` ports have it too)."""

    def read(self, size: int = 1) -> bytes:
        """Return up to ``size`` bytes, waiting at most the port timeout for the first."""
        ...

    def write(self, data: bytes) -> int | None:
        """Send ``data``."""
        ...

    @property
    def in_waiting(self) -> int:
        """Bytes received and not read yet."""
        ...

    def reset_input_buffer(self) -> None:
        """Discard received bytes not read yet."""
        ...

    def close(self) -> None:
        """Release the port."""
        ...


PortFactory = Callable[[], SerialPort]
"""Opens the port (again): called by every ``open`` of a streaming sensor."""


DiskUsage = Callable[[str], tuple[int, int]]
"""``disk_usage(path) -> (total_bytes, free_bytes)`` of the file system holding ``path``."""

ListDir = Callable[[str], list[str]]
"""``list_dir(path) -> names`` of a directory's entries, sorted; raises ``OSError`` (ENOENT, ENOTDIR)."""

PathTest = Callable[[str], bool]
"""``exists(path)`` / ``is_dir(path)``: never raises."""


def list_dir(path: str) -> list[str]:
    """The sorted entry names of the directory ``path``."""
    return sorted(os.listdir(path))


@dataclass(frozen=True, slots=True)
class FileTree:
    """Where a driver finds /sys and /proc, and how it reads and writes their files."""

    sysfs_root: str
    procfs_root: str
    read_text: TextReader
    write_text: TextWriter
    disk_usage: DiskUsage
    list_dir: ListDir = list_dir
    """Directory listings (device discovery: 1-Wire probes, IIO devices): part of what a capture holds."""
    exists: PathTest = os.path.exists
    is_dir: PathTest = os.path.isdir


class Hardware(Protocol):
    """Opens the real buses of this machine (:class:`sensors.hardware.RealHardware`)."""

    def i2c_bus(self, bus: int) -> SMBusLike:
        """Open ``/dev/i2c-<bus>``."""
        ...

    def serial_port(self, url: str, baudrate: int, timeout_s: float) -> SerialPort:
        """Open the serial port ``url`` (a path or anything ``serial_for_url`` accepts), 8N1."""
        ...

    def read_text(self, path: str) -> str:
        """Read a sysfs/procfs file."""
        ...

    def write_text(self, path: str, text: str) -> None:
        """Write a sysfs file."""
        ...

    def disk_usage(self, path: str) -> tuple[int, int]:
        """``(total_bytes, free_bytes)`` of the file system holding ``path``."""
        ...

    def pin_factory(self) -> Any:
        """The first gpiozero pin factory that works on this machine."""
        ...

    def jetson_gpio(self) -> Any:
        """The ``Jetson.GPIO`` module."""
        ...


class BusTap(Protocol):
    """Sits between the build context and the drivers: records or replays every bus it is handed.

    Each method gets a stable ``key`` (the same for the same config on every run, e.g. ``i2c-1``,
    ``serial:gps``, ``clock:gps``) and a ``make`` that opens the underlying bus: a recording tap calls it and
    wraps the result, a replaying tap never calls it (nothing real or emulated is opened) and serves the
    capture instead.
    """

    def i2c(self, key: str, make: Callable[[], SMBusLike]) -> SMBusLike:
        """The bus drivers use for ``key``."""
        ...

    def serial(self, key: str, make: PortFactory) -> PortFactory:
        """The port factory drivers use for ``key``."""
        ...

    def files(self, key: str, make: Callable[[], FileTree]) -> FileTree:
        """The file tree drivers use for ``key``."""
        ...

    def pin_factory(self, key: str, make: Callable[[], Any]) -> Any:
        """The gpiozero pin factory drivers use for ``key``."""
        ...

    def gpio(self, key: str, make: Callable[[], Any]) -> Any:
        """The GPIO backend (``sensors.gpio.backend.GpioBackend``: input lines and their edges) for ``key``."""
        ...

    def clock(self, key: str, clock: Clock) -> Clock:
        """The monotonic clock the driver ``key`` reads (its reads are part of what it exchanged)."""
        ...

    def sleep(self, sleep: Sleep) -> Sleep:
        """The sleep drivers use (a replay at full speed does not wait)."""
        ...
