"""BME280 / BMP280 emulator: register file, soft reset, forced and normal mode, measuring status bit.

Physical values (temperature, pressure, humidity) vary slowly with the injected clock and are encoded into the
20/16-bit ADC registers by inverting the driver's own compensation (a round trip through the datasheet math).
A skipped channel (oversampling 0) and the power-on state read the 0x80000 / 0x8000 pattern, as on silicon.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from sensors.i2c import bme280_codec as codec
from sensors.i2c import bme280_registers as R
from sensors.sim.i2c.waves import invert, slow_wave
from sensors.sim.smbus import RegisterChip

#: The BMP280 datasheet's worked-example calibration (T/P) plus humidity trimming typical of real parts.
DEFAULT_CALIBRATION = codec.Calibration(
    27504, 26435, -1000, 36477, -10685, 3024, 2855, 140, -7, 15500, -14600, 6000,
    h1=75, h2=362, h3=0, h4=313, h5=50, h6=30,
)  # fmt: skip

_WRITABLE = {R.REG_RESET, R.REG_CTRL_HUM, R.REG_CTRL_MEAS, R.REG_CONFIG}


class BME280Chip(RegisterChip):
    """An emulated BME280 (``chip_id`` 0x60) or BMP280 (0x58).

    Args:
        chip_id: value of register 0xD0; a BMP280 id also removes the humidity channel.
        calibration: trimming parameters burnt into 0x88.. / 0xE1..
        clock: seconds clock driving the physical values.
        busy_reads: status reads that still show 'measuring' after a forced-mode trigger.
        environment: ``f(t_s) -> (temperature_c, pressure_pa, humidity_pct)``; default: a slow indoor drift.
    """

    def __init__(
        self,
        chip_id: int = R.CHIP_ID_BME280,
        calibration: codec.Calibration = DEFAULT_CALIBRATION,
        clock: Callable[[], float] = time.monotonic,
        busy_reads: int = 1,
        environment: Callable[[float], tuple[float, float, float]] | None = None,
    ) -> None:
        self.chip_id = chip_id
        self.calibration = calibration
        self.has_humidity = chip_id == R.CHIP_ID_BME280
        self._clock = clock
        self._busy_reads = busy_reads
        self._environment = environment or indoor_environment
        self._busy = 0
        self._osrs_h_latched = 0
        self.measurements = 0
        calib00, calib26 = codec.encode_calibration(calibration)
        defaults = {R.REG_CHIP_ID: chip_id}
        defaults.update({R.REG_CALIB00 + i: b for i, b in enumerate(calib00)})
        if self.has_humidity:
            defaults.update({R.REG_CALIB26 + i: b for i, b in enumerate(calib26)})
        skipped = codec.encode_raw(codec.RawSample(R.SKIPPED_20BIT, R.SKIPPED_20BIT, R.SKIPPED_16BIT))
        defaults.update({R.REG_DATA + i: b for i, b in enumerate(skipped)})
        super().__init__(defaults)

    def reset(self) -> None:
        """Power-on / soft reset: sleep mode, data registers at the skipped pattern."""
        super().reset()
        self._busy = 0
        self._osrs_h_latched = 0

    def writable(self, reg: int) -> bool:
        """Only the control registers and the reset register accept writes."""
        return reg in _WRITABLE and not (reg == R.REG_CTRL_HUM and not self.has_humidity)

    def on_write(self, reg: int, value: int) -> None:
        """Soft reset on 0xB6 to 0xE0; ctrl_meas latches ctrl_hum and may start a forced conversion."""
        if reg == R.REG_RESET:
            if value == R.RESET_WORD:
                self.reset()
            self.regs[R.REG_RESET] = 0
        elif reg == R.REG_CTRL_MEAS:
            self._osrs_h_latched = self.regs[R.REG_CTRL_HUM] & 0x7
            if value & 0x3 in (R.MODE_FORCED, 0b10):
                self._measure()
                self._busy = self._busy_reads
                self.regs[R.REG_CTRL_MEAS] = value & ~0x3  # back to sleep after one conversion

    def on_read(self, reg: int) -> None:
        """Update the status byte; in normal mode each data read sees a fresh conversion."""
        if reg == R.REG_STATUS:
            self.regs[R.REG_STATUS] = R.STATUS_MEASURING if self._busy > 0 else 0
            self._busy = max(0, self._busy - 1)
        elif R.REG_DATA <= reg <= R.REG_DATA + 7 and self.regs[R.REG_CTRL_MEAS] & 0x3 == R.MODE_NORMAL:
            self._measure()

    def physical(self) -> tuple[float, float, float]:
        """Return the (temperature_c, pressure_pa, humidity_pct) the chip is exposed to now."""
        return self._environment(self._clock())

    def _measure(self) -> None:
        self.measurements += 1
        temperature_c, pressure_pa, humidity_pct = self.physical()
        cal = self.calibration
        os_t, os_p, _mode = codec.decode_ctrl_meas(self.regs[R.REG_CTRL_MEAS])
        adc_t = invert(lambda raw: codec.compensate_temperature(raw, cal)[0], temperature_c, 0, 0xFFFFF)
        t_fine = codec.compensate_temperature(adc_t, cal)[1]

        def pressure_of(raw: int) -> float:
            return codec.compensate_pressure(raw, t_fine, cal) or 0.0

        adc_p = invert(pressure_of, pressure_pa, 0, 0xFFFFF)
        adc_h = invert(lambda raw: codec.compensate_humidity(raw, t_fine, cal), humidity_pct, 0, 0xFFFF)
        sample = codec.RawSample(
            adc_t if os_t else R.SKIPPED_20BIT,
            adc_p if os_p else R.SKIPPED_20BIT,
            (adc_h if self._osrs_h_latched else R.SKIPPED_16BIT) if self.has_humidity else None,
        )
        for i, b in enumerate(codec.encode_raw(sample)):
            self.regs[R.REG_DATA + i] = b


def indoor_environment(t_s: float) -> tuple[float, float, float]:
    """A room over the day: 21 ± 2 °C, 1013 ± 1.5 hPa, 45 ± 10 %RH, each drifting over minutes."""
    return (
        slow_wave(t_s, 21.0, 2.0, 900.0),
        slow_wave(t_s, 101325.0, 150.0, 3600.0, phase=1.3),
        slow_wave(t_s, 45.0, 10.0, 1200.0, phase=2.6),
    )
