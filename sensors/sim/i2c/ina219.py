"""INA219 emulator: a load drawing current through a shunt, converted with the chip's own integer math."""

from __future__ import annotations

import time
from collections.abc import Callable

from sensors.i2c import ina219_codec as codec
from sensors.i2c import ina219_registers as R
from sensors.sim.i2c.waves import slow_wave
from sensors.sim.smbus import WordRegisterChip

Load = Callable[[float], tuple[float, float]]


def motor_load(t_s: float) -> tuple[float, float]:
    """A 5 V supply feeding a load that breathes between about 0.2 and 1.0 A."""
    return 5.0 + 0.02 * slow_wave(t_s, 0.0, 1.0, 45.0), slow_wave(t_s, 0.6, 0.4, 20.0, 0.5)


class INA219Chip(WordRegisterChip):
    """An emulated INA219 on a board with a ``shunt_ohm`` shunt.

    Args:
        shunt_ohm: the board's shunt resistor.
        clock: seconds clock driving the load.
        load: ``f(t_s) -> (supply_v, current_a)``: supply on IN+, current through the shunt.
    """

    def __init__(self, shunt_ohm: float = 0.1, clock: Callable[[], float] = time.monotonic,
                 load: Load = motor_load) -> None:  # fmt: skip
        self.shunt_ohm = shunt_ohm
        self._clock = clock
        self._load = load
        super().__init__({R.REG_CONFIG: R.CONFIG_RESET_VALUE})

    def writable(self, reg: int) -> bool:
        """Only configuration and calibration are writable."""
        return reg in (R.REG_CONFIG, R.REG_CALIBRATION)

    def on_write(self, reg: int, value: int) -> None:
        """RST resets every register; the calibration register's bit 0 does not exist (reads 0)."""
        if reg == R.REG_CONFIG and value & R.CONFIG_RST:
            self.reset()
        elif reg == R.REG_CALIBRATION:
            self.regs[R.REG_CALIBRATION] = value & 0xFFFE

    def on_read(self, reg: int) -> None:
        """Data registers hold a conversion of the present load (continuous mode)."""
        if R.REG_SHUNT_VOLTAGE <= reg <= R.REG_CURRENT and self.regs[R.REG_CONFIG] & 0x7:
            self._convert()

    def _convert(self) -> None:
        config = self.regs[R.REG_CONFIG]
        pg = (config >> 11) & 0x3
        bus_fsr_v = 32.0 if config & (1 << 13) else 16.0
        supply_v, current = self._load(self._clock())
        shunt_v = current * self.shunt_ohm
        limit = 4000 << pg  # +/-40 mV per PGA step, in 10 uV counts
        shunt = max(-limit, min(limit, round(shunt_v / R.SHUNT_LSB_V)))
        bus_code = max(0, min(round(bus_fsr_v / R.BUS_LSB_V), round((supply_v - shunt_v) / R.BUS_LSB_V)))
        cal = self.regs.get(R.REG_CALIBRATION, 0)
        current_reg = codec.current_register(shunt & 0xFFFF, cal)
        power_reg = codec.power_register(current_reg, bus_code)
        overflow = not -32768 <= current_reg <= 32767 or power_reg > 0xFFFF
        self.regs[R.REG_SHUNT_VOLTAGE] = shunt & 0xFFFF
        self.regs[R.REG_BUS_VOLTAGE] = (bus_code << 3) | R.BUS_CNVR | (R.BUS_OVF if overflow else 0)
        self.regs[R.REG_CURRENT] = current_reg & 0xFFFF
        self.regs[R.REG_POWER] = power_reg & 0xFFFF
