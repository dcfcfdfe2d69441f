"""ADS1115 / ADS1015 emulator: config register, single-shot with busy OS bit, continuous mode, four inputs."""

from __future__ import annotations

import time
from collections.abc import Callable

from sensors.i2c import ads1x15_codec as codec
from sensors.i2c import ads1x15_registers as R
from sensors.sim.i2c.waves import slow_wave
from sensors.sim.smbus import WordRegisterChip

Inputs = Callable[[float], tuple[float, float, float, float]]

#: (positive, negative) input index per MUX code; -1 is GND.
_MUX_PINS = {0: (0, 1), 1: (0, 3), 2: (1, 3), 3: (2, 3), 4: (0, -1), 5: (1, -1), 6: (2, -1), 7: (3, -1)}


def bench_inputs(t_s: float) -> tuple[float, float, float, float]:
    """A bench setup on a 3.3 V board: potentiometer, thermistor divider, 2.5 V reference, current sense."""
    return (
        slow_wave(t_s, 1.65, 1.2, 120.0),
        slow_wave(t_s, 0.80, 0.15, 900.0, 1.1),
        2.5 + 0.0005 * slow_wave(t_s, 0.0, 1.0, 60.0, 2.0),
        slow_wave(t_s, 0.05, 0.04, 30.0, 0.3),
    )


class ADS1x15Chip(WordRegisterChip):
    """An emulated ADS1115 (``bits=16``) or ADS1015 (``bits=12``).

    Args:
        bits: converter resolution.
        clock: seconds clock driving the inputs.
        inputs: ``f(t_s) -> (a0, a1, a2, a3)`` in volts against GND.
        busy_reads: config reads that show a conversion in progress (OS = 0) after a start.
    """

    def __init__(
        self,
        bits: int = 16,
        clock: Callable[[], float] = time.monotonic,
        inputs: Inputs = bench_inputs,
        busy_reads: int = 1,
    ) -> None:
        self.bits = bits
        self._clock = clock
        self._inputs = inputs
        self._busy_reads = busy_reads
        self._busy = 0
        self.conversions = 0
        super().__init__(
            {
                R.REG_CONVERSION: 0,
                R.REG_CONFIG: R.CONFIG_RESET,
                R.REG_LO_THRESH: 0x8000,
                R.REG_HI_THRESH: 0x7FFF,
            },
            pointer_mask=0x03,
        )

    def reset(self) -> None:
        """Power-on state: config 0x8583 (idle, single-shot, AIN0-AIN1, +/-2.048 V)."""
        super().reset()
        self._busy = 0

    def writable(self, reg: int) -> bool:
        """The conversion register is read-only."""
        return reg != R.REG_CONVERSION

    def input_v(self, mux: int) -> float:
        """Return the differential input voltage the multiplexer code ``mux`` selects now."""
        pins = self._inputs(self._clock())
        pos, neg = _MUX_PINS[mux]
        return pins[pos] - (pins[neg] if neg >= 0 else 0.0)

    def _convert(self) -> None:
        config = codec.decode_config(self.regs[R.REG_CONFIG])
        self.conversions += 1
        self.regs[R.REG_CONVERSION] = codec.register_for(
            self.input_v(config.mux), codec.full_scale_v(config.pga), self.bits
        )

    def on_write(self, reg: int, value: int) -> None:
        """A config write with OS = 1 in single-shot mode starts a conversion."""
        if reg == R.REG_CONFIG:
            if value & R.OS_START and value & R.MODE_SINGLE_SHOT:
                self._convert()
                self._busy = self._busy_reads
            self.regs[R.REG_CONFIG] = value & ~R.OS_START

    def on_read(self, reg: int) -> None:
        """Config reads show OS = 0 while busy; in continuous mode each conversion read is fresh."""
        config = self.regs[R.REG_CONFIG]
        if reg == R.REG_CONFIG:
            idle = self._busy == 0 or not config & R.MODE_SINGLE_SHOT
            self.regs[R.REG_CONFIG] = (config | R.OS_START) if idle else (config & ~R.OS_START)
            self._busy = max(0, self._busy - 1)
        elif reg == R.REG_CONVERSION and not config & R.MODE_SINGLE_SHOT:
            self._convert()
