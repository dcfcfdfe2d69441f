"""MPU-6050 emulator: gently rocking board, sample-rate clock, 1024-byte FIFO with overflow, device reset.

Samples are produced on the emulated sample clock (``1 / sample_rate`` apart on the injected clock), so a
driver draining the FIFO in bursts sees exactly as many samples as the real chip would have stored.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable

from sensors.i2c import mpu6050_codec as codec
from sensors.i2c import mpu6050_registers as R
from sensors.sim.smbus import RegisterChip

Motion = Callable[[float], tuple[tuple[float, float, float], tuple[float, float, float], float]]

#: FIFO bytes per enabled FIFO_EN bit, in the order the chip writes them (register order).
_FIFO_PARTS = ((R.FIFO_EN_ACCEL, 0, 6), (R.FIFO_EN_TEMP, 6, 8), (R.FIFO_EN_XG, 8, 10), (R.FIFO_EN_YG, 10, 12),
               (R.FIFO_EN_ZG, 12, 14))  # fmt: skip


def rocking_board(t_s: float) -> tuple[tuple[float, float, float], tuple[float, float, float], float]:
    """A board rocking slowly on a table, with a little 37 Hz vibration.

    Returns:
        (accel in g, gyro in deg/s, die temperature in deg C)
    """
    wx, wy = 2 * math.pi / 20.0, 2 * math.pi / 33.0
    tilt_x = math.radians(10.0) * math.sin(wx * t_s)
    tilt_y = math.radians(5.0) * math.sin(wy * t_s + 1.0)
    vibration = 0.02 * math.sin(2 * math.pi * 37.0 * t_s)
    accel = (
        math.sin(tilt_y),
        -math.sin(tilt_x) * math.cos(tilt_y),
        math.cos(tilt_x) * math.cos(tilt_y) + vibration,
    )
    gyro = (10.0 * wx * math.cos(wx * t_s), 5.0 * wy * math.cos(wy * t_s + 1.0), 0.3 * math.sin(0.05 * t_s))
    return accel, gyro, 31.0 + 1.5 * math.sin(2 * math.pi * t_s / 600.0)


class MPU6050Chip(RegisterChip):
    """An emulated MPU-6050.

    Args:
        clock: seconds clock; drives both motion and the sample clock.
        motion: ``f(t_s) -> (accel_g xyz, gyro_dps xyz, temperature_c)``.
        who_am_i: WHO_AM_I value (0x68; clones answer differently).
    """

    def __init__(self, clock: Callable[[], float] = time.monotonic, motion: Motion = rocking_board,
                 who_am_i: int = R.WHO_AM_I) -> None:  # fmt: skip
        self._clock = clock
        self._motion = motion
        self.fifo = bytearray()
        self.samples_generated = 0
        self._last_sample_t = 0.0
        self._int_status = 0
        super().__init__({R.REG_WHO_AM_I: who_am_i, R.REG_PWR_MGMT_1: R.PWR_SLEEP})

    def reset(self) -> None:
        """Power-on / DEVICE_RESET: registers to defaults (asleep), FIFO empty."""
        super().reset()
        self.fifo = bytearray()
        self._int_status = 0
        self._last_sample_t = self._clock()

    # -- sampling

    def sample_rate_hz(self) -> float:
        """Current sample rate from SMPLRT_DIV and DLPF_CFG."""
        return codec.sample_rate_hz(self.regs[R.REG_SMPLRT_DIV], self.regs[R.REG_CONFIG] & 0x7)

    def _raw(self, t_s: float) -> bytes:
        accel, gyro, temperature = self._motion(t_s)
        afs = R.ACCEL_RANGES_G[(self.regs[R.REG_ACCEL_CONFIG] >> 3) & 0x3]
        gfs = R.GYRO_RANGES_DPS[(self.regs[R.REG_GYRO_CONFIG] >> 3) & 0x3]
        ax, ay, az = (codec.saturate16(round(v * codec.ACCEL_LSB_PER_G[afs])) for v in accel)
        gx, gy, gz = (codec.saturate16(round(v * codec.GYRO_LSB_PER_DPS[gfs])) for v in gyro)
        return codec.encode_sample(
            codec.RawSample(ax, ay, az, codec.raw_temperature(temperature), gx, gy, gz)
        )

    def _asleep(self) -> bool:
        return bool(self.regs[R.REG_PWR_MGMT_1] & R.PWR_SLEEP)

    def _advance(self) -> None:
        """Store every sample the sample clock produced since the last call (into the FIFO if enabled)."""
        now = self._clock()
        if self._asleep():
            self._last_sample_t = now
            return
        period = 1.0 / self.sample_rate_hz()
        due = math.floor((now - self._last_sample_t) / period + 1e-6)
        if due <= 0:
            return
        fifo_on = self.regs[R.REG_USER_CTRL] & R.USER_CTRL_FIFO_EN and self.regs[R.REG_FIFO_EN]
        keep = min(due, R.FIFO_SIZE // R.SAMPLE_BYTES + 2)  # older samples would be overwritten anyway
        first_t = self._last_sample_t + (due - keep + 1) * period
        raw = b""
        for i in range(keep):
            raw = self._raw(first_t + i * period)
            if fifo_on:
                mask = self.regs[R.REG_FIFO_EN]
                self.fifo += b"".join(raw[a:b] for bit, a, b in _FIFO_PARTS if mask & bit)
        if fifo_on and len(self.fifo) > R.FIFO_SIZE:
            del self.fifo[: len(self.fifo) - R.FIFO_SIZE]  # the oldest data is lost, new data written
            self._int_status |= R.INT_FIFO_OFLOW
        self.samples_generated += due
        self.regs[R.REG_ACCEL_XOUT_H : R.REG_ACCEL_XOUT_H + R.SAMPLE_BYTES] = raw
        self._int_status |= R.INT_DATA_RDY
        self._last_sample_t += due * period

    # -- register hooks

    def writable(self, reg: int) -> bool:
        """Data, status, FIFO count and WHO_AM_I are read-only."""
        return reg not in (
            R.REG_WHO_AM_I,
            R.REG_INT_STATUS,
            R.REG_FIFO_COUNT_H,
            R.REG_FIFO_COUNT_H + 1,
        ) and not (R.REG_ACCEL_XOUT_H <= reg < R.REG_ACCEL_XOUT_H + R.SAMPLE_BYTES)

    def on_write(self, reg: int, value: int) -> None:
        """DEVICE_RESET, FIFO_RESET (self-clearing); a FIFO_R_W write pushes a byte like the real chip."""
        if reg == R.REG_PWR_MGMT_1:
            if value & R.PWR_DEVICE_RESET:
                self.reset()
            elif not value & R.PWR_SLEEP:
                self._last_sample_t = max(self._last_sample_t, self._clock())
        elif reg == R.REG_USER_CTRL and value & R.USER_CTRL_FIFO_RESET:
            self.fifo = bytearray()
            self._int_status &= ~R.INT_FIFO_OFLOW
            self.regs[R.REG_USER_CTRL] = value & ~R.USER_CTRL_FIFO_RESET
        elif reg == R.REG_FIFO_R_W and len(self.fifo) < R.FIFO_SIZE:
            self.fifo.append(value)

    def on_read(self, reg: int) -> None:
        """Bring samples up to date; INT_STATUS clears on read; FIFO count reflects the buffer."""
        self._advance()
        if reg == R.REG_INT_STATUS:
            self.regs[R.REG_INT_STATUS] = self._int_status
            self._int_status = 0
        elif reg == R.REG_FIFO_COUNT_H:
            self.regs[R.REG_FIFO_COUNT_H] = len(self.fifo) >> 8
            self.regs[R.REG_FIFO_COUNT_H + 1] = len(self.fifo) & 0xFF

    def read(self, length: int) -> bytes:
        """Reads at FIFO_R_W drain the FIFO (the pointer stays); other reads auto-increment."""
        if self.pointer != R.REG_FIFO_R_W:
            return super().read(length)
        self._advance()
        data = bytes(self.fifo[:length])
        del self.fifo[:length]
        return data + b"\x00" * (length - len(data))
