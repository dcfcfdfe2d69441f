"""Shared helpers for the serial tests: a loop:// port handed to a driver, and a sensor-info builder."""

from __future__ import annotations

import serial

from sensors.serial.port import PortFactory, SerialPort


class LoopPorts:
    """Hands out loop:// ports; bytes the test writes into ``current`` are what the driver reads.

    ``fail_next`` makes the next open fail like a missing device.
    """

    def __init__(self, timeout_s: float = 0.05) -> None:
        self.timeout_s = timeout_s
        self.current: serial.Serial | None = None
        self.opened = 0
        self.fail_next = False

    def factory(self) -> PortFactory:
        def open_port() -> SerialPort:
            if self.fail_next:
                raise serial.SerialException(2, "could not open port /dev/ttyUSB0: No such file or directory")
            self.current = serial.serial_for_url("loop://", timeout=self.timeout_s)
            self.opened += 1
            port: SerialPort = self.current
            return port

        return open_port

    def device_writes(self, data: bytes) -> None:
        assert self.current is not None
        self.current.write(data)
