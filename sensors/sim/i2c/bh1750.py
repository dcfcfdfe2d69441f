"""BH1750 emulator: opcodes, power state, one-time / continuous modes, MTreg, lux encoded as counts."""

from __future__ import annotations

import time
from collections.abc import Callable

from sensors.i2c import bh1750_codec as codec
from sensors.i2c import bh1750_registers as R
from sensors.sim.history import BoundedList
from sensors.sim.i2c.waves import slow_wave

_CONTINUOUS = {v: k for k, v in R.CONTINUOUS.items()}
_ONE_TIME = {v: k for k, v in R.ONE_TIME.items()}


class BH1750Chip:
    """An emulated BH1750FVI.

    Args:
        clock: seconds clock driving the illuminance.
        environment: ``f(t_s) -> illuminance_lx``; default: indoor daylight drifting over minutes.
    """

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, environment: Callable[[float], float] | None = None
    ) -> None:
        self._clock = clock
        self._environment = environment or (lambda t: max(0.0, slow_wave(t, 420.0, 300.0, 1800.0, 0.7)))
        self.opcodes: list[int] = BoundedList()
        self.reset()

    def reset(self) -> None:
        """Power-on state: powered down, MTreg 69, data register 0."""
        self.powered = False
        self.mode: str | None = None
        self.continuous = False
        self.mtreg = R.MTREG_DEFAULT
        self.data = 0

    def physical(self) -> float:
        """Return the illuminance in lux the chip is exposed to now."""
        return self._environment(self._clock())

    def _convert(self) -> None:
        assert self.mode is not None
        self.data = codec.raw_count(self.physical(), self.mode, self.mtreg)

    def write(self, data: bytes) -> None:
        """Execute each opcode byte."""
        for opcode in data:
            self.opcodes.append(opcode)
            self._execute(opcode)

    def _execute(self, opcode: int) -> None:
        if opcode == R.POWER_DOWN:
            self.powered, self.continuous = False, False
        elif opcode == R.POWER_ON:
            self.powered = True
        elif opcode == R.RESET:
            if self.powered:
                self.data = 0
        elif opcode in _CONTINUOUS:
            self.powered, self.continuous, self.mode = True, True, _CONTINUOUS[opcode]
            self._convert()
        elif opcode in _ONE_TIME:
            self.mode, self.continuous = _ONE_TIME[opcode], False
            self._convert()
            self.powered = False  # one-time mode powers down after its conversion
        else:
            mtreg = codec.decode_mtreg_opcode(opcode, self.mtreg)
            if mtreg is not None:
                self.mtreg = mtreg

    def read(self, length: int) -> bytes:
        """Return the 16-bit result MSB first (a fresh conversion in continuous mode)."""
        if self.continuous:
            self._convert()
        return (bytes([self.data >> 8, self.data & 0xFF]) + b"\xff" * length)[:length]
