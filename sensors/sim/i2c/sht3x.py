"""SHT3x emulator: 16-bit commands, single shot with not-ready NACK, status register, CRC words."""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable

from sensors.i2c import sht3x_codec as codec
from sensors.i2c import sht3x_registers as R
from sensors.sim.history import BoundedList
from sensors.sim.i2c.waves import slow_wave

_MEASURE = set(R.MEASURE_SINGLE_SHOT.values()) | set(R.MEASURE_SINGLE_SHOT_STRETCH.values())
STATUS_AFTER_RESET = R.STATUS_ALERT | R.STATUS_RESET_DETECTED


class SHT3xChip:
    """An emulated SHT31.

    Args:
        clock: seconds clock driving the physical values.
        busy_reads: read attempts NACKed after a measurement command (conversion still running).
        environment: ``f(t_s) -> (temperature_c, humidity_pct)``; default: a slow indoor drift.
    """

    def __init__(
        self,
        clock: Callable[[], float] = time.monotonic,
        busy_reads: int = 0,
        environment: Callable[[float], tuple[float, float]] | None = None,
    ) -> None:
        self._clock = clock
        self._busy_reads = busy_reads
        self._environment = environment or (
            lambda t: (slow_wave(t, 22.0, 1.5, 700.0, 0.4), slow_wave(t, 50.0, 8.0, 1500.0, 1.9))
        )
        self.commands: list[int] = BoundedList()
        self.status = STATUS_AFTER_RESET
        self._pending = b""
        self._busy = 0

    def reset(self) -> None:
        """Power-on reset: status 0x8010, no pending result."""
        self.status = STATUS_AFTER_RESET
        self._pending = b""
        self._busy = 0

    def physical(self) -> tuple[float, float]:
        """Return the (temperature_c, humidity_pct) the chip is exposed to now."""
        return self._environment(self._clock())

    def write(self, data: bytes) -> None:
        """Execute a 16-bit command; unknown commands set the 'command failed' status bit."""
        if len(data) != 2:
            self.status |= R.STATUS_COMMAND_FAILED
            return
        command = (data[0] << 8) | data[1]
        self.commands.append(command)
        self._pending = b""
        if command in _MEASURE:
            temperature, humidity = self.physical()
            self._pending = codec.encode_words(
                [codec.raw_temperature(temperature), codec.raw_humidity(humidity)]
            )
            self._busy = self._busy_reads
        elif command == R.CMD_SOFT_RESET:
            self.reset()
        elif command == R.CMD_READ_STATUS:
            self._pending = codec.encode_words([self.status])
        elif command == R.CMD_CLEAR_STATUS:
            self.status &= ~(R.STATUS_ALERT | R.STATUS_RESET_DETECTED | R.STATUS_COMMAND_FAILED)
        elif command == R.CMD_HEATER_ENABLE:
            self.status |= R.STATUS_HEATER
        elif command == R.CMD_HEATER_DISABLE:
            self.status &= ~R.STATUS_HEATER
        elif command != R.CMD_BREAK:
            self.status |= R.STATUS_COMMAND_FAILED

    def read(self, length: int) -> bytes:
        """Return the pending result; NACK (errno 121) while converting or when nothing is pending."""
        if self._busy > 0:
            self._busy -= 1
            raise OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
        if not self._pending:
            raise OSError(errno.EREMOTEIO, os.strerror(errno.EREMOTEIO))
        data, self._pending = self._pending, b""
        return (data + b"\xff" * length)[:length]
