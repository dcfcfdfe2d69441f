"""The real buses of this machine: smbus2, pyserial, files, gpiozero and Jetson.GPIO, each imported on first use.

This is the only place in ``sensors`` that opens hardware; drivers get these buses from their
:class:`~sensors.base.BuildContext` (see :mod:`sensors.buses`).
"""

from __future__ import annotations

import errno
import os
from typing import Any

from sensors.buses import SerialPort, SMBusLike
from sensors.errors import SensorError


class RealHardware:
    """:class:`~sensors.buses.Hardware` on the kernel's devices."""

    def i2c_bus(self, bus: int) -> SMBusLike:
        """Open ``/dev/i2c-<bus>`` with smbus2.

        Raises:
            SensorError: the device node is missing (I2C not enabled) or not accessible (group).
        """
        import smbus2  # lazily: demo mode and tests never need the real bus

        path = f"/dev/i2c-{bus}"
        try:
            smbus: SMBusLike = smbus2.SMBus(bus)
        except FileNotFoundError as exc:
            raise SensorError(
                errno.ENOENT, f"{path} not found: enable I2C (raspi-config / dtparam=i2c_arm=on)"
            ) from exc
        except PermissionError as exc:
            raise SensorError(
                errno.EACCES, f"{path}: permission denied: add the user to the 'i2c' group"
            ) from exc
        return smbus

    def serial_port(self, url: str, baudrate: int, timeout_s: float) -> SerialPort:
        """Open ``url`` with ``serial.serial_for_url`` at ``baudrate``, 8N1, ``timeout_s`` per read."""
        import serial

        kwargs: dict[str, Any] = {"baudrate": baudrate, "timeout": timeout_s}
        if "://" not in url:
            kwargs["exclusive"] = True  # a second reader (ModemManager, a stray script) would steal bytes
        port: SerialPort = serial.serial_for_url(url, **kwargs)
        return port

    def read_text(self, path: str) -> str:
        """Read a sysfs attribute (one ``read(2)``: attributes are generated whole by the kernel)."""
        with open(path, encoding="ascii", errors="replace") as f:
            return f.read()

    def write_text(self, path: str, text: str) -> None:
        """Write a sysfs attribute."""
        with open(path, "w", encoding="ascii") as f:
            f.write(text)

    def disk_usage(self, path: str) -> tuple[int, int]:
        """``statvfs`` of ``path``: total bytes, and bytes available to an unprivileged user."""
        st = os.statvfs(path)
        return st.f_blocks * st.f_frsize, st.f_bavail * st.f_frsize

    def pin_factory(self) -> Any:
        """The first gpiozero pin factory that works here (lgpio, RPi.GPIO, native)."""
        from sensors.gpio.zero import make_real_factory

        return make_real_factory()

    def jetson_gpio(self) -> Any:
        """The ``Jetson.GPIO`` module."""
        from sensors.gpio.jetson import import_jetson_gpio

        return import_jetson_gpio()


REAL_HARDWARE = RealHardware()
"""The machine's hardware; the default of every build context."""
