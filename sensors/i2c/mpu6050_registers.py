"""InvenSense MPU-6050 register map.

Sources: InvenSense RM-MPU-6000A-00 rev. 4.2 (register map) and PS-MPU-6000A-00 rev. 3.4 (product
specification: sensitivity tables 6.1 / 6.2, temperature formula in the register map section 4.18).
"""

from __future__ import annotations

ADDRESSES = (0x68, 0x69)
"""AD0 low -> 0x68, AD0 high -> 0x69."""

REG_SMPLRT_DIV = 0x19
REG_CONFIG = 0x1A
REG_GYRO_CONFIG = 0x1B
REG_ACCEL_CONFIG = 0x1C
REG_FIFO_EN = 0x23
REG_INT_ENABLE = 0x38
REG_INT_STATUS = 0x3A
REG_ACCEL_XOUT_H = 0x3B
"""Start of the 14-byte block: accel X/Y/Z, temperature, gyro X/Y/Z, each big-endian signed 16-bit."""
REG_USER_CTRL = 0x6A
REG_PWR_MGMT_1 = 0x6B
REG_FIFO_COUNT_H = 0x72
REG_FIFO_R_W = 0x74
REG_WHO_AM_I = 0x75

WHO_AM_I = 0x68

FIFO_EN_TEMP = 0x80
FIFO_EN_XG = 0x40
FIFO_EN_YG = 0x20
FIFO_EN_ZG = 0x10
FIFO_EN_ACCEL = 0x08
FIFO_EN_ALL = FIFO_EN_TEMP | FIFO_EN_XG | FIFO_EN_YG | FIFO_EN_ZG | FIFO_EN_ACCEL
"""With everything enabled a FIFO sample is the same 14 bytes, in the same order, as 0x3B..0x48."""

USER_CTRL_FIFO_EN = 0x40
USER_CTRL_FIFO_RESET = 0x04
PWR_DEVICE_RESET = 0x80
PWR_SLEEP = 0x40
PWR_CLKSEL_PLL_XGYRO = 0x01
INT_FIFO_OFLOW = 0x10
INT_DATA_RDY = 0x01

FIFO_SIZE = 1024
SAMPLE_BYTES = 14
RESET_TIME_S = 0.1

ACCEL_RANGES_G = (2, 4, 8, 16)
"""AFS_SEL 0..3."""
GYRO_RANGES_DPS = (250, 500, 1000, 2000)
"""FS_SEL 0..3."""

#: Digital low-pass filter bandwidth (accelerometer, Hz) -> DLPF_CFG; 260 Hz (cfg 0) runs the gyro at 8 kHz.
DLPF_HZ = {260: 0, 184: 1, 94: 2, 44: 3, 21: 4, 10: 5, 5: 6}
